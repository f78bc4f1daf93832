"""onnxruntime session options shared by every model wrapper."""
from __future__ import annotations

import onnxruntime as ort


def session_options(threads: int) -> ort.SessionOptions:
    """Options of every onnxruntime session: `threads` intra-op threads that sleep when idle (the audio and vision
    branches run models at the same time on few cores: a spinning idle thread steals the other branch's core)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
