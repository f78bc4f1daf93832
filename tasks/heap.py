"""Keep large buffers out of the C heap.

glibc serves a freed allocation's size from the heap afterwards (its mmap threshold rises with every large free, up
to 32 MB), and the heap does not shrink while small allocations sit above the freed blocks. The active-speaker
stage allocates thousands of 1-3 MB tensor buffers of varying size between small ones (pandas rows): on the
10-minute benchmark episode its RSS grew from 0.7 to 2.5 GB this way, and stayed under 0.9 GB with the threshold
fixed at 1 MB (buffers above it are mapped, and returned to the system when freed). A 64 KB threshold kept memory
down as well but made every decoded frame's copy a fresh mapping (decoding 30% slower); at 1 MB decoding costs
what it did."""
from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
THRESHOLD_BYTES = 1024 * 1024


def fix_mmap_threshold(size: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at `size` bytes (no effect elsewhere); True when it was set."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return False
    return bool(libc is not None and hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, size) == 1)
