"""Keep large, short-lived buffers out of the C heap.

glibc serves a freed allocation's size from the heap afterwards (its mmap threshold rises with every large free, up
to 32 MB), and the heap does not shrink while small allocations sit above the freed blocks. A run allocates
hundreds of thousands of frame and crop buffers of 50 KB-3 MB between small ones (pandas rows, JPEG bytes): on the
10-minute benchmark episode the active-speaker stage alone grew from 0.7 to 2.5 GB of RSS this way, and stayed at
0.8 GB with the threshold fixed at 64 KB (buffers above it are mapped and returned to the system on free)."""
from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
THRESHOLD_BYTES = 64 * 1024


def fix_mmap_threshold(size: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at `size` bytes (no effect elsewhere); True when it was set."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, size) == 1)
    except OSError:
        return False
