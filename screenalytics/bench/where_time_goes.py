"""Where a run's time goes, from a py-spy profile (`python -m screenalytics.bench.where_time_goes PROFILE.txt`):
the busy samples of every Python thread of the run (not Prefect's API server, not threads waiting), each put in
the first bucket whose marker its stack holds, printed as a Markdown table of thread-seconds. Made with

    py-spy record -r 25 --format raw --subprocesses -o PROFILE.txt -- python -m screenalytics.bench.child '{...}'

A model's own intra-op threads are native, so py-spy sees one thread in its `Session.run`: the table shares out
where the pipeline's threads are busy, not CPU seconds."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

RATE_HZ = 25
WAITING = ("Condition.wait", "Event.wait", "Queue.get", "select (selectors", "Lock.acquire", "sleep",
           "_wait_for_tstate_lock", "heartbeat_loop", "_worker (concurrent/futures/thread.py:81)",
           "_connection_worker_thread")
SERVER = "prefect.server.api.server"
BUCKETS = (  # (bucket, marker in the stack), first match wins: models before the stages that call them
    ("active speaker: network", "lr_asd.py"), ("active speaker: crops and MFCCs", "tasks/asd.py"),
    ("face detector (YuNet)", "yunet.py"), ("face embedder (SFace)", "sface.py"),
    ("speaker embedder, second pass (`refine`)", "refine (tasks/diarize_voices"),
    ("speaker embedder, first pass and overlap", "ecapa.py"), ("segmentation", "segmentation.py"),
    ("segmentation", "diarize_local.py"), ("voice activity (Silero)", "models/vad.py"),
    ("decoding the video", "decoding.py"), ("shot cuts", "shots.py"), ("face crops for ASD", "facecrops.py"),
    ("detect: chips and sharpness", "tasks/detect.py"), ("tracking", "tasks/track.py"),
    ("clustering", "tasks/cluster.py"), ("diarization, other", "diarize"), ("fusion", "fusion.py"),
    ("embed, other", "tasks/embed.py"), ("publish and report", "publish"), ("Prefect", "prefect/"))


def buckets(lines: list[str]) -> Counter:
    """Busy samples per bucket ("other" for a stack no marker matches) of py-spy raw lines `stack count`."""
    out: Counter = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or SERVER in stack or any(w in stack.rsplit(";", 1)[-1] for w in WAITING):
            continue
        out[next((name for name, marker in BUCKETS if marker in stack), "other")] += int(count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy `--format raw` output")
    args = parser.parse_args()
    found = buckets(args.profile.read_text().splitlines())
    total = sum(found.values())
    print("| where | thread-seconds | share |\n|---|---:|---:|")
    for name, samples in found.most_common():
        print(f"| {name} | {samples / RATE_HZ:.1f} | {100 * samples / total:.1f}% |")
    print(f"| **busy, all threads** | {total / RATE_HZ:.1f} | |")


if __name__ == "__main__":
    main()
