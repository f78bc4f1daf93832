"""onnxruntime session options shared by every model wrapper."""
from __future__ import annotations

import onnxruntime as ort


def session_options(threads: int, arena: bool = False) -> ort.SessionOptions:
    """Options of every onnxruntime session: `threads` intra-op threads that sleep when idle (the audio and vision
    branches run models at the same time on few cores: a spinning idle thread steals the other branch's core), and
    no CPU memory arena (an arena keeps its peak for the whole run: the speaker embedder's varied clip lengths grew
    it by ~320 MB on a 10-minute episode; off, the run's peak RSS fell from 2686 to 1896 MB at the same speed,
    docs/benchmarks.md). `arena` keeps one for a model whose input shapes are few and bounded: it then reuses its
    buffers instead of mapping fresh pages for every call's activations (the active-speaker model: 20% faster)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = arena
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
