"""Shared helpers of the graphens speed benchmarks: timing, CPU contention, output.

Timing rule used by every benchmark: ``warmup`` untimed calls, then ``repeats`` timed calls,
each timed alone with :func:`time.perf_counter` (after a device synchronise on CUDA); the
reported figure is the median, with min and max kept in the JSON.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from graphens.io import atomic_write_json, atomic_write_text

OUT_ROOT = Path(__file__).resolve().parent / "out"


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def sync(device: torch.device | str | None = None) -> None:
    """Wait for queued CUDA work (a no-op on the CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 2,
               device: torch.device | str | None = None) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - tick)
    return times


def summary(times: Sequence[float]) -> dict[str, float]:
    """Median (the reported figure), min, max and count of a list of seconds."""
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "n": len(times)}


def dense_matmul_flops(size: int = 2048, repeats: int = 5, warmup: int = 2,
                       device: torch.device | str = "cpu") -> dict[str, float]:
    """Achieved FLOP/s of one square float32 ``size x size`` matmul (2 size^3 FLOPs), median.

    This is the machine's practical dense-matmul ceiling for the current thread setting, the
    yardstick the training step's efficiency is quoted against.
    """
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device)
    b = torch.randn(size, size, generator=gen).to(device)
    out = torch.empty(size, size, device=device)
    times = time_calls(lambda: torch.mm(a, b, out=out), repeats, warmup, device)
    stats = summary(times)
    stats["flops"] = 2.0 * size**3
    stats["flop_per_s"] = stats["flops"] / stats["median_s"]
    stats["size"] = size
    return stats


# --------------------------------------------------------------------------------------------
# Contention: other processes using the CPU while we measure
# --------------------------------------------------------------------------------------------


def _cpu_ticks() -> dict[int, tuple[str, int, int]]:
    """``pid -> (command, utime + stime ticks, parent pid)`` for every process."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        ticks[int(entry)] = (cmd or stat[stat.find("(") + 1:stat.rfind(")")],
                             int(fields[11]) + int(fields[12]), int(fields[1]))
    return ticks


def _others(after: dict[int, tuple[str, int, int]], before: dict[int, tuple[str, int, int]],
            seconds: float, threshold: float) -> list[dict[str, Any]]:
    """Processes, other than this one and its descendants, above ``threshold`` of a core."""
    hz = os.sysconf("SC_CLK_TCK")
    me = os.getpid()

    def mine(pid: int) -> bool:
        for _ in range(64):
            if pid == me:
                return True
            if pid not in after or pid <= 1:
                return False
            pid = after[pid][2]
        return False

    busy = []
    for pid, (cmd, tick, _) in after.items():
        if pid not in before or mine(pid):
            continue
        share = (tick - before[pid][1]) / hz / max(seconds, 1e-3)
        if share > threshold:
            busy.append({"pid": pid, "cpu_share": round(share, 2), "cmd": cmd[:120]})
    return busy


def busy_processes(window_s: float = 1.0, threshold: float = 0.2) -> list[dict[str, Any]]:
    """Other processes that used more than ``threshold`` of a core during ``window_s``.

    Read from ``/proc`` (Linux only; empty elsewhere). Used to record, next to the numbers,
    whether someone else was competing for the CPU while the benchmark ran.
    """
    if not Path("/proc/self/stat").exists():
        return []
    before = _cpu_ticks()
    time.sleep(window_s)
    return _others(_cpu_ticks(), before, window_s, threshold)


class ContentionMonitor:
    """Samples, in a background thread, which other processes use the CPU during a run.

    ``with ContentionMonitor() as monitor: ...`` then ``monitor.report()`` lists every other
    process that used more than ``threshold`` of a core over any ``interval_s`` window, with
    the highest share seen. The sampling reads ``/proc`` once per interval (a few ms).
    """

    def __init__(self, interval_s: float = 2.0, threshold: float = 0.2) -> None:
        self.interval_s, self.threshold = interval_s, threshold
        self.seen: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if not Path("/proc/self/stat").exists():
            return
        before, tick = _cpu_ticks(), time.monotonic()
        while not self._stop.wait(self.interval_s):
            after, now = _cpu_ticks(), time.monotonic()
            for proc in _others(after, before, now - tick, self.threshold):
                old = self.seen.get(proc["pid"], {"cpu_share": 0.0})
                proc["cpu_share"] = max(proc["cpu_share"], old["cpu_share"])
                self.seen[proc["pid"]] = proc
            before, tick = after, now

    def __enter__(self) -> ContentionMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> list[dict[str, Any]]:
        return sorted(self.seen.values(), key=lambda p: -p["cpu_share"])


def wait_until_idle(max_wait_s: float, poll_s: float = 30.0) -> list[dict[str, Any]]:
    """Sleep until no other process uses the CPU (or ``max_wait_s`` passed); return the last
    list of busy processes (empty when idle)."""
    deadline = time.monotonic() + max_wait_s
    busy = busy_processes()
    while busy and time.monotonic() < deadline:
        names = ", ".join(f"{p['pid']} ({p['cpu_share']:.0%})" for p in busy)
        print(f"waiting for other processes to leave the CPU: {names}", flush=True)
        time.sleep(poll_s)
        busy = busy_processes()
    return busy


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Versions, thread count and machine, to print and store with the numbers."""
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        # Settings outside graphens that change CPU speed (allocator, threads, huge pages).
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                            "THP_MEM_ALLOC_ENABLE", "GLIBC_TUNABLES",
                                            "LD_PRELOAD") if k in os.environ},
    }
    if torch.device(device).type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats are expected pre-formatted by the caller."""
    lines = ["| " + " | ".join(map(str, headers)) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], markdown: str,
                  out_root: str | os.PathLike | None = None) -> Path:
    """Write ``results.json`` and ``results.md`` atomically under ``<out_root>/<name>/``."""
    folder = Path(out_root or OUT_ROOT) / name
    atomic_write_json(folder / "results.json", payload)
    atomic_write_text(folder / "results.md", markdown.rstrip() + "\n")
    return folder


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def fmt_gflops(flop_per_s: float) -> str:
    return f"{flop_per_s / 1e9:.1f}"


def contention_note(busy: list[dict[str, Any]]) -> str:
    """One line saying whether other processes competed for the CPU during the run."""
    if not busy:
        return ("No other process used more than 20 % of a core at any time during the run "
                "(sampled every 2 s).")
    names = "; ".join(f"pid {p['pid']} (up to {p['cpu_share']:.0%} of a core): {p['cmd'][:60]}"
                      for p in busy)
    return f"WARNING: other processes competed for the CPU during this run: {names}"
