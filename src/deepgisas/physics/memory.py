"""Keep freed tensor memory in the process (glibc's allocator), so that the simulator's many
short-lived temporaries reuse pages already mapped instead of faulting in fresh ones.

PyTorch's CPU tensors come from malloc. glibc serves blocks above its mmap threshold (128 kB
at first, then raised to the largest block freed) by mmap and returns them on free, and trims
the heap's top whenever more than the trim threshold is free there; a new block then costs a
page fault per 4 kB on first touch, about as much as the arithmetic on it. The simulator's
temporaries are up to ``BLOCK_BYTES`` (2 MB) each, among many sizes: film fits (six cases,
benchmark-like) took 2.6 to 2.9 s of CPU in all against 2.0 to 2.1 s with the thresholds set
as below. Raising both keeps such blocks on the heap; blocks above 32 MB are still mapped and
returned, and freed memory beyond 256 MB at the heap's top is still given back. Other C
libraries are left as they are.

This changes the allocator of the whole process, so importing deepgisas never does it: an
application opts in by calling :func:`retain_freed_memory` once. The ``deepgisas`` command
does, before it runs any subcommand (forked data workers inherit it); so do the fit
benchmarks, which time the library as the command runs it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring); False where there
    is no glibc ``mallopt``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
