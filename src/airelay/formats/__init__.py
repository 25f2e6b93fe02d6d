"""Wire formats: pure functions over bytes and dicts, no I/O."""
