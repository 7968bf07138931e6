"""Peak memory of a block of code: resident set size (RSS) and, optionally, Python-traced allocations.

RSS covers everything the process holds (torch and numpy buffers, pandas, the interpreter). Its peak is read
from Linux's ``VmHWM`` after resetting it through ``/proc/self/clear_refs`` (value ``5``, Linux >= 4.0), so
each measured block gets its own peak even in a long-lived process; blocks may nest. Where that is not possible the peak is
sampled by a background thread every few milliseconds with psutil (a short spike may then be missed; the
result says which method was used).

``tracemalloc`` counts allocations made through Python's allocators, which include numpy arrays and pandas
frames but not torch's CPU tensors; it slows the traced code down, so time and trace in separate passes.
"""

import os
import threading
import time
import tracemalloc
from dataclasses import dataclass

_MB = 1024.0 * 1024.0


def _status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak():
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        return True
    except OSError:
        return False


# Blocks being measured, outermost first. Resetting VmHWM for an inner block would lose the outer block's
# peak, so before every reset (and at every exit) the current VmHWM is folded into the enclosing blocks.
_ACTIVE = []


def _fold_into_active():
    try:
        peak = _status_kb("VmHWM") / 1024.0
    except (OSError, KeyError):
        return
    for block in _ACTIVE:
        block._folded_peak = max(block._folded_peak, peak)


def current_rss_mb():
    try:
        return _status_kb("VmRSS") / 1024.0
    except (OSError, KeyError):
        import psutil

        return psutil.Process().memory_info().rss / _MB


@dataclass
class MemoryUsage:
    """``rss_before_mb``, ``peak_rss_mb`` (absolute peak during the block), ``peak_rss_delta_mb`` (peak minus
    before), ``traced_peak_mb`` (tracemalloc peak, ``None`` unless traced) and ``method``."""

    rss_before_mb: float = 0.0
    peak_rss_mb: float = 0.0
    peak_rss_delta_mb: float = 0.0
    traced_peak_mb: float | None = None
    method: str = ""


class _Sampler(threading.Thread):
    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = current_rss_mb()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, current_rss_mb())

    def stop(self):
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, current_rss_mb())


class PeakMemory:
    """Context manager measuring a block's peak memory; the result is in ``.usage`` after the block.

    Args:
        trace (bool): also run ``tracemalloc`` (slower; Python-level allocations only).
        interval (float): sampling period in seconds where VmHWM cannot be reset.

    Example::

        with PeakMemory() as peak:
            dataset = create_dataset(config)
        peak.usage.peak_rss_delta_mb
    """

    def __init__(self, trace=False, interval=0.005):
        self.trace = trace
        self.interval = interval
        self.usage = MemoryUsage()
        self._sampler = None

    def __enter__(self):
        self.usage.rss_before_mb = current_rss_mb()
        self._folded_peak = 0.0
        _fold_into_active()
        if os.path.exists("/proc/self/status") and _reset_peak():
            self.usage.method = "VmHWM"
            _ACTIVE.append(self)
        else:
            self.usage.method = "sampled"
            self._sampler = _Sampler(self.interval)
            self._sampler.start()
        if self.trace:
            self._was_tracing = tracemalloc.is_tracing()
            if not self._was_tracing:
                tracemalloc.start()
            tracemalloc.reset_peak()
            self._traced_before = tracemalloc.get_traced_memory()[0]
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.trace:
            current, peak = tracemalloc.get_traced_memory()
            self.usage.traced_peak_mb = (peak - self._traced_before) / _MB
            if not self._was_tracing:
                tracemalloc.stop()
        if self._sampler is not None:
            self._sampler.stop()
            peak = self._sampler.peak
        else:
            _fold_into_active()
            _ACTIVE.remove(self)
            peak = self._folded_peak
        self.usage.peak_rss_mb = peak
        self.usage.peak_rss_delta_mb = max(0.0, peak - self.usage.rss_before_mb)
        return False
