"""Prefect flows. Importing this package sets offline-friendly Prefect defaults (no analytics, a patient
temporary server; values already in the environment win), keeps large buffers out of the C heap (`tasks.heap`)
and holds numpy's BLAS to one thread (`tasks.blas`)."""
import os

from screenalytics.tasks.blas import single_threaded_blas
from screenalytics.tasks.heap import fix_mmap_threshold

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
fix_mmap_threshold()
single_threaded_blas()
