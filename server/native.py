"""Native libraries and the process settings the hot loops depend on.

Load order: DawDreamer (Faust's JIT) and TensorFlow each ship LLVM. With TensorFlow
loaded first, compiling Faust code segfaults; with DawDreamer loaded first, both work.
Every entry point that may use both imports this module before TensorFlow.

BLAS threads: :func:`limit_blas` caps them while serving.

Allocator: a step computes short STFTs into fresh arrays of 0.2-2 MB. glibc hands
blocks that large out as new memory maps, and on this machine the page faults of a
fresh map cost more than the FFT itself (one 64-point multi-scale STFT of a 1 s clip:
1.7 ms against 0.44 ms with the heap reused). Raising glibc's map threshold keeps such
blocks on the heap, where they are reused. Not glibc (macOS, musl): nothing to do.
"""

import ctypes
import ctypes.util
from typing import Protocol

import dawdreamer  # noqa: F401  (imported for its side effect: load first)

#: mallopt parameters (glibc's malloc.h) and the sizes set here.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 128 << 20


def tune_allocator() -> bool:
    """Keep blocks under 64 MB on the reusable heap (glibc only). True when applied."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


ALLOCATOR_TUNED = tune_allocator()


class BlasLimits(Protocol):
    """What the server keeps of threadpoolctl's limits: the way back to the old ones."""

    def restore_original_limits(self) -> None: ...


def limit_blas(threads: int | None) -> BlasLimits | None:
    """Cap BLAS threads while serving. Requests already run in parallel on the worker
    pool; a multi-threaded GEMM per request only oversubscribes the cores (measured on 2
    busy cores: a feature pass takes 33 ms with 2 BLAS threads and 1 ms with one)."""
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn, a librosa dependency
        return None
    limits: BlasLimits = threadpool_limits(threads, user_api="blas")  # threadpoolctl is untyped
    return limits
