"""py-spy profiles of the server during a benchmark phase, summarised for the results."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

PROFILE_HZ = 200
VENV_BIN = Path(sys.executable).parent

class _Process(Protocol):
    pid: int


class Server(Protocol):
    proc: _Process


def start_profiler(server: Server, duration: float, out: Path) -> subprocess.Popen[bytes]:
    spy = VENV_BIN / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(server.proc.pid), "--subprocesses",
                             "--duration", str(int(duration)), "--rate", str(PROFILE_HZ),
                             "--format", "raw", "--output", str(out),
                             # C frames too (the JSON codec, the GC, asyncpg's Cython); py-spy
                             # must pause the process to read them
                             *(["--native"] if os.environ.get("CXPRISM_BENCH_NATIVE")
                               else ["--nonblocking"])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _package_of(frame: str) -> str:
    """A frame ``func (path:line)`` named by its library, or its cxprism module."""
    path = frame.rsplit("(", 1)[-1]
    if "cxprism/" in path:
        return "cxprism." + path.split("cxprism/", 1)[1].split(".py")[0].replace("/", ".")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].split(".py")[0]
    if "python3" in path:
        return "stdlib:" + path.split("/")[-1].split(".py")[0]
    return path.rstrip(")")


MIDDLEWARE = ("cxprism/kit/request_id.py", "cxprism/kit/limits.py")


def _owner(frames: list[str]) -> str:
    """Who spent a sample: the innermost cxprism function on the stack (with the libraries it
    called), else the leaf's package (the HTTP server and the framework). The middlewares
    that wrap every request count only for their own code."""
    for depth, frame in enumerate(reversed(frames)):
        if "cxprism/" in frame and "cxprism/cli.py" not in frame and (
                depth == 0 or not any(m in frame for m in MIDDLEWARE)):
            return frame
    return "not under cxprism code: " + _package_of(frames[-1])


def summarise_profile(path: Path, seconds: float, top: int = 20) -> dict[str, Any]:
    """Shares of the samples (%): by owner (see _owner), by leaf package, by leaf function,
    and inclusive by function (less the frames every sample shares)."""
    by_owner: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";")]
        total += count
        by_owner[_owner(frames)] += count
        self_time[frames[-1]] += count
        by_package[_package_of(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    common = max(inclusive.values(), default=0) * 0.97

    def share(counter: Counter[str], skip_common: bool = False) -> list[list[Any]]:
        ranked = [(k, n) for k, n in counter.most_common() if not skip_common or n < common]
        return [[name, round(100 * n / max(total, 1), 1)] for name, n in ranked[:top]]

    return {"samples": total, "sampled_busy_pct": round(100 * total / (seconds * PROFILE_HZ)),
            "by_owner_pct": share(by_owner), "self_by_package_pct": share(by_package),
            "self_pct": share(self_time), "inclusive_pct": share(inclusive, True),
            "raw": str(path)}


