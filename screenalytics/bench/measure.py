"""Run one pipeline in a child process (`bench.child`) and measure it from outside: its wall clock, the CPU
seconds of the process tree, and the peak resident memory of the tree (the child and every process it starts,
dlib's embedding workers included), polled from /proc. Prefect's ephemeral API server, a child of the run here but
a separate service in a deployment, is counted apart."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
POLL_S = 0.2
SERVER_MARKERS = ("uvicorn", "prefect.server", "prefect server")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    """pid and all its descendants, now."""
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them (0 when unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def label(pid: int) -> str:
    """A short name for a process of the run: the Python module or script it runs, else its executable."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    if "-c" in argv[:-1]:
        code = argv[argv.index("-c") + 1]
        for marker, name in (("multiprocessing.spawn", "worker process (spawn)"),
                             ("resource_tracker", "multiprocessing resource tracker")):
            if marker in code:
                return name
        return "python -c " + code[:40].replace("\n", " ")
    return " ".join(Path(a).name for a in argv[:2])


def is_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(m in cmd for m in SERVER_MARKERS)


def run_child(args: dict[str, Any], log: Path | None = None) -> dict[str, Any]:
    """Run `bench.child` with `args` (video, ep_id, facebank, profile, root); returns its result (flow_wall_s,
    manifest, ...) plus `process_wall_s`, `cpu_s`, `other_cpu_s` (CPU seconds the rest of the machine used
    meanwhile: other work there slows the run), `peak_rss_mb` (the sum of the tree's RSS without Prefect's
    server, at its highest), `peak_rss_with_server_mb`, `peak_pss_mb` (proportional set size when the RSS peaked:
    libraries shared between the processes counted once), `peak_breakdown` (MB per process then),
    `peak_processes` and `rss_trace` ([seconds since start, MB] every ~2 s)."""
    with tempfile.TemporaryDirectory(prefix="sa-bench-child-") as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        machine_before = busy_s()
        started = time.perf_counter()
        with open(log or os.devnull, "a") as sink:
            proc = subprocess.Popen([sys.executable, "-m", "screenalytics.bench.child", json.dumps({**args,
                                     "out": str(out)})], stdout=sink, stderr=subprocess.STDOUT, env=env)
            peak = peak_all = peak_pss = 0
            procs = 0
            servers: set[int] = set()
            trace: list[tuple[float, float]] = []
            breakdown: list[tuple[str, float]] = []
            while proc.poll() is None:
                pids = tree(proc.pid)
                sizes = {p: rss_bytes(p) for p in pids}
                servers |= {p for p in pids if p not in servers and p != proc.pid and is_server(p)}
                work = sum(v for p, v in sizes.items() if p not in servers)
                if work > peak:
                    peak_pss = max(peak_pss, sum(pss_bytes(p) for p in pids if p not in servers))
                    breakdown = [(label(p), round(v / 2**20, 1)) for p, v in sizes.items() if p not in servers]
                peak, peak_all, procs = max(peak, work), max(peak_all, sum(sizes.values())), max(procs, len(pids))
                now = time.perf_counter() - started
                if not trace or now - trace[-1][0] >= 2.0:
                    trace.append((round(now, 1), round(work / 2**20, 1)))
                time.sleep(POLL_S)
        wall = time.perf_counter() - started
        machine = busy_s() - machine_before
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"pipeline run failed (exit {proc.returncode}); see {log}")
        result = json.loads(out.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = (own_after.ru_utime - own_before.ru_utime) + (own_after.ru_stime - own_before.ru_stime)
    return {**result, "process_wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "other_cpu_s": round(max(0.0, machine - cpu - own), 1),
            "peak_rss_mb": round(peak / 2**20, 1), "peak_rss_with_server_mb": round(peak_all / 2**20, 1),
            "peak_pss_mb": round(peak_pss / 2**20, 1), "peak_breakdown": breakdown, "peak_processes": procs,
            "rss_trace": trace}
