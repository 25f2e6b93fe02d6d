"""Persistence: tables, migrations, repositories. Knows nothing of HTTP."""
