"""Peak memory of the current process, shared by the benchmark scripts."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_mib() -> int:
    """This process's peak resident memory (MiB): VmHWM, which starts afresh at exec.

    ``ru_maxrss`` is not used on Linux: a child started by ``subprocess`` inherits the
    parent's high-water mark through fork and exec, so it would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
