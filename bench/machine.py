"""What the machine did during a bench phase: CPU time of processes, CPU waits, disk I/O.

Benches run on shared, noisy machines; these counters (all from /proc) let a result say
whether a slow phase was the code's or the machine's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) of each process still alive."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
    return seconds


def cpu_waits(pids: list[int]) -> dict[int, float]:
    """Seconds each process's main thread spent runnable but waiting for a CPU (the
    kernel's schedstat): a server that waits for a core holds every request in flight."""
    waits = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            waits[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    return waits


def cores_used(before: dict[int, float], after: dict[int, float], seconds: float) -> float:
    return round(sum(after[p] - before[p] for p in after if p in before) / seconds, 2)


def machine_busy_seconds() -> float:
    """All CPUs' busy time so far (not idle, not iowait)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS_PER_SECOND


def machine_busy() -> dict[int, float]:
    """machine_busy_seconds as a pseudo process 0, for cores_used."""
    return {0: machine_busy_seconds()}


def disk_counters() -> dict[str, int]:
    """Writes and cache flushes completed, and the milliseconds spent on each, summed over
    the machine's whole disks (/proc/diskstats; partitions and virtual devices left out).

    A flush is what fsync/fdatasync costs the disk: a commit waits for one, so their mean
    time says whether a latency tail came from the disk rather than from the CPUs."""
    disks = {p.name for p in Path("/sys/block").iterdir()
             if not p.name.startswith(("loop", "ram", "zram", "dm-", "md"))}
    totals = {"writes": 0, "write_ms": 0, "flushes": 0, "flush_ms": 0}
    with contextlib.suppress(OSError):
        for line in Path("/proc/diskstats").read_text().splitlines():
            fields = line.split()
            if fields[2] not in disks:
                continue
            totals["writes"] += int(fields[7])
            totals["write_ms"] += int(fields[10])
            if len(fields) >= 20:  # flush counters: Linux 5.5 and later
                totals["flushes"] += int(fields[18])
                totals["flush_ms"] += int(fields[19])
    return totals


def disk_activity(before: dict[str, int], after: dict[str, int],
                  seconds: float) -> dict[str, float]:
    """Writes and flushes per second between two disk_counters, and their mean times."""
    delta = {k: after[k] - before[k] for k in before}
    return {"writes_per_s": round(delta["writes"] / seconds),
            "write_ms_mean": round(delta["write_ms"] / max(1, delta["writes"]), 3),
            "flushes_per_s": round(delta["flushes"] / seconds),
            "flush_ms_mean": round(delta["flush_ms"] / max(1, delta["flushes"]), 3)}
