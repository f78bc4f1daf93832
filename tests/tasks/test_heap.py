"""The mmap threshold fix: after a large buffer is freed, buffers of 1 MB or more are still mapped (returned to
the system when freed) instead of being carved from the heap, where small long-lived objects pin them."""
from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import ctypes, sys
import numpy as np
from screenalytics.tasks.heap import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
big = np.ones(8 * 1024 * 1024, np.uint8)
del big                                   # glibc's default raises its threshold to 8 MB here
before = libc.mallinfo2().hblks
windows = [np.ones(2 * 1024 * 1024, np.uint8) for _ in range(4)]  # an active-speaker window's size
small = [np.ones(300 * 1024, np.uint8) for _ in range(4)]         # a small frame copy's size
print(libc.mallinfo2().hblks - before)
"""


def mapped_buffers(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_large_buffers_stay_mapped_after_a_larger_one_is_freed_and_small_ones_do_not():
    assert mapped_buffers("default") == 0
    assert mapped_buffers("fixed") == 4
