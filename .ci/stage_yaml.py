#!/usr/bin/env python3
"""Generate config/stages/<section>.yaml from the defaults and descriptions in tasks/configs.py.

    .venv/bin/python .ci/stage_yaml.py          # exit 1 and name the files that differ
    .venv/bin/python .ci/stage_yaml.py --write  # rewrite them
"""
from __future__ import annotations

import argparse
import sys

from screenalytics.tasks.configs import STAGES
from screenalytics.tasks.settings import config_dir, stage_yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files that differ")
    args = parser.parse_args()
    stale = []
    for section in STAGES:
        path = config_dir() / "stages" / f"{section}.yaml"
        text = stage_yaml(section)
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if args.write:
                path.write_text(text)
    for path in stale:
        print(f"{'rewrote' if args.write else 'stale'}: {path}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
