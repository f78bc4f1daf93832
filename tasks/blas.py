"""numpy's BLAS on one thread.

OpenBLAS (under numpy and scipy) keeps its worker threads spinning for a while after every call. The pipeline's
matrix products are small (MFCC filter banks, similarity matrices), while the cores are wanted by onnxruntime's
threads and by the other branch of the flow: on two cores, an active-speaker window scored right after its MFCCs
were computed ran 60% slower (1.64 vs 1.03 ms per frame) until BLAS was held to one thread."""
from __future__ import annotations

import os

from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """Hold BLAS to one thread in this process and in the processes it starts."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    threadpool_limits(1, user_api="blas")
