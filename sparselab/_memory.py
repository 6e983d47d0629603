r"""Peak-memory measurement of a call: CUDA's allocator statistics, the resident set on Linux, or tracemalloc.

On Linux the peak resident set size is read from ``/proc/self/status`` after ``/proc/self/clear_refs``
has reset it, with glibc told (through ``mallopt``) to serve and return large blocks at once, so that
re-used heap memory cannot hide an allocation.
"""

from __future__ import annotations

import contextlib
import ctypes

import torch

from sparselab.training import resolve_device

# ----------------------------------------------------------------------------- memory


def _proc_status() -> dict:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _mallopt(mmap_threshold: int, trim_threshold: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)


@contextlib.contextmanager
def _rss_follows_allocations():
    """While measuring, glibc serves blocks of 64 KiB and more by mmap and returns freed memory at once,
    so that re-used heap memory cannot hide an allocation. Afterwards the thresholds are set to glibc's
    dynamic maxima (32 MiB / 64 MiB), where its own adaptation would have taken them: allocation-heavy
    code stays as fast as before."""
    _mallopt(64 * 1024, 128 * 1024)
    try:
        yield
    finally:
        _mallopt(32 * 1024 * 1024, 64 * 1024 * 1024)


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_peak_memory(fn, *args, memory_device=None, **kwargs):
    r"""Run ``fn(*args, **kwargs)`` and return ``(result, peak_bytes, method)``.

    The memory of ``memory_device`` is measured; by default the ``device`` keyword
    given to ``fn`` (so ``measure_peak_memory(iht, X, y, nnz=s, device="cuda")``
    measures the GPU), or the CPU when there is none.

    ``peak_bytes`` is the growth of memory in use during the call over what was in
    use before it, so data allocated before the call is not counted:

    * CUDA: :func:`torch.cuda.max_memory_allocated` after
      :func:`torch.cuda.reset_peak_memory_stats`, minus the allocation before
      (``method="cuda_max_memory_allocated"``);
    * CPU on Linux: the peak resident set size (``VmHWM``, reset through
      ``/proc/self/clear_refs``) minus the resident set size before, with glibc
      told to return freed memory (``method="rss_hwm"``). Page granularity (4 KiB)
      and allocator slack make small values (below ~1 MiB) noisy;
    * elsewhere: :mod:`tracemalloc` (Python and NumPy allocations only, not torch
      tensors; ``method="tracemalloc"``).
    """
    dev = resolve_device(kwargs.get("device", "cpu") if memory_device is None else memory_device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        result = fn(*args, **kwargs)
        torch.cuda.synchronize(dev)
        return result, int(torch.cuda.max_memory_allocated(dev) - before), "cuda_max_memory_allocated"
    try:
        with _rss_follows_allocations():
            _malloc_trim()
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = _proc_status()["VmRSS"]
            result = fn(*args, **kwargs)
            peak = _proc_status()["VmHWM"]
        return result, int(max(peak - before, 0)), "rss_hwm"
    except OSError:
        import tracemalloc

        tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            result = fn(*args, **kwargs)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return result, int(peak), "tracemalloc"
