"""Peak resident memory of a command run in its own process, on Linux, macOS and Windows.

Linux and macOS keep a high-water mark that `resource` reads (in KiB on Linux, in bytes on macOS); Windows
has no `resource`, and there the command's memory is sampled while it runs (psutil: its peak working set,
which Windows keeps itself; elsewhere its resident size).

Usage: python benchmarks/peak_memory.py COMMAND [ARGS...]   prints the peak in MiB on its last line.
Run it as its own process: Linux keeps a process's high-water mark across exec, so a command forked from
a process holding gigabytes would report that process's size.
"""

from __future__ import annotations

import subprocess
import sys
import time

SAMPLE_SECONDS = 0.02


def peak_mib(arguments: list[str]) -> float:
    """Run `arguments` (output discarded; a failure raises CalledProcessError) and return its peak RSS in MiB."""
    try:
        import resource
    except ImportError:  # Windows
        return _sampled_peak_mib(arguments)
    subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _sampled_peak_mib(arguments: list[str]) -> float:
    import psutil

    process = psutil.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            memory = process.memory_info()
        except psutil.NoSuchProcess:  # ended between the poll and the read
            break
        peak = max(peak, getattr(memory, "peak_wset", memory.rss))
        time.sleep(SAMPLE_SECONDS)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, arguments)
    return peak / 2**20


if __name__ == "__main__":
    print(f"{peak_mib(sys.argv[1:]):.1f}")
