"""The run's processes are forked with models loaded: that is safe only while a model session has
no threads of its own for a forked copy to lose (audio.processes.can_fork)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COUNT = """
import json, os
import numpy as np
import onnxruntime as ort
from audio import silero

def threads():
    return len(os.listdir("/proc/self/task"))

x = np.zeros(4 * 16000, np.float32)
imported = threads()  # onnxruntime's import starts one idle thread of its own
silero.probabilities(x)
ours = threads()
default = ort.InferenceSession(silero._build(), providers=["CPUExecutionProvider"])
default.run(None, {"rows": np.zeros((8, 576), np.float32),
                   "h0": np.zeros((1, 1, 128), np.float32), "c0": np.zeros((1, 1, 128), np.float32)})
print(json.dumps([imported, ours, threads()]))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_a_model_session_runs_on_the_calling_thread_only():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    run = [sys.executable, "-c", COUNT]
    out = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    imported, ours, with_default = json.loads(out)
    assert ours == imported  # audio.onnx.session: no pool of its own, in this process or a fork
    if (os.cpu_count() or 1) > 1:  # the count would see one: onnxruntime's default makes a pool
        assert with_default > ours
