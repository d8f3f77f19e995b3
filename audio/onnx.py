"""onnxruntime sessions for the bundled models: one thread each, no spinning.

Parallelism comes from the process pool (one clip per worker); a model that also spread over
every core would fight the other workers for them.
"""

from __future__ import annotations

from typing import Any


def session(model: str | bytes, arena: bool = True) -> Any:
    """An `onnxruntime.InferenceSession` on the CPU for a model path or its bytes; `arena=False`
    hands each run's memory back instead of keeping the largest run's."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = arena
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
