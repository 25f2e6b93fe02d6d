"""Large buffers go back to the operating system once freed.

glibc serves a block larger than its mmap threshold from a mapping of its own, unmapped
when freed; but by default the threshold rises to the size of the largest such block
freed so far (up to 32 MiB). After one large upstream answer, the next ones come from the
heap, and the memory stays with the process: 40 concurrent 12 MB answers left the RSS
about 900 MiB above where it started. A fixed threshold keeps every block above 1 MiB in
its own mapping (the relay's ordinary answers are far below it, so the hot path does not
change); the same run then ends about 150 MiB above the start.

Elsewhere than glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK = 1024 * 1024


def return_large_blocks() -> bool:
    """Fix the mmap threshold at ``LARGE_BLOCK``; True when the C library took it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK))
