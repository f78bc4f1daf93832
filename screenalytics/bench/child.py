"""One pipeline run in its own process, so its memory (with the dlib workers it starts) is measured alone:

    python -m screenalytics.bench.child '{"video": ..., "ep_id": ..., "facebank": ..., "profile": ..., "root": ...,
                                          "out": "result.json"}'

Imports the flow and starts Prefect's ephemeral API with a trivial flow first (a deployment's worker has both up
before an episode arrives), then times the `episode` flow by the wall clock and writes {flow_wall_s, warmup_s,
t_start, t_end, manifest} to `out`."""
from __future__ import annotations

import json
import sys
import time


def main() -> None:
    args = json.loads(sys.argv[1])
    started = time.time()
    from prefect import flow

    from screenalytics.flows.episode import episode
    from screenalytics.tasks.progress import no_progress, showing

    @flow(name="bench-warmup")
    def warmup() -> int:
        return 1

    warmup()
    t_start = time.time()
    clock = time.perf_counter()
    with showing(no_progress):
        manifest = episode(args["video"], ep_id=args["ep_id"], facebank=args["facebank"] or "",
                           profile=args["profile"], root=args["root"])
    wall = time.perf_counter() - clock
    with open(args["out"], "w") as out:
        json.dump({"flow_wall_s": wall, "warmup_s": t_start - started, "t_start": t_start, "t_end": time.time(),
                   "manifest": manifest}, out, default=str)


if __name__ == "__main__":
    main()
