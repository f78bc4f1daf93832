"""Importing the flows holds numpy's BLAS to one thread (its spinning workers slow onnxruntime on few cores)."""
from __future__ import annotations

import os
import subprocess
import sys

PROGRAM = """
import os
os.environ.pop("OPENBLAS_NUM_THREADS", None)
from threadpoolctl import threadpool_info
import numpy
before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
import screenalytics.flows
after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
print(min(before), max(after), os.environ["OPENBLAS_NUM_THREADS"])
"""


def test_importing_the_flows_holds_blas_to_one_thread():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    before, after, env = out.stdout.split()
    assert int(before) >= min(2, os.cpu_count() or 1) and int(after) == 1 and env == "1"
