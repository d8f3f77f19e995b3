"""A flow as `serve` hands it to a run validates its parameters in a fresh process.

`serve` runs each flow run in a spawned process from a cloudpickle of the Flow. The module's
attribute is the Flow, not its function, so cloudpickle copies the function by value with only
the globals its body uses; names used only in string annotations can be lost and Prefect's
parameter model then cannot be built in the child (`flows.cli.serve.portable` keeps them). What
Prefect does without `portable` is its business: these tests assert only that ours works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

pytestmark = pytest.mark.integration  # fresh interpreters importing Prefect: seconds each

DEMO = """
from __future__ import annotations
from typing import Literal
from prefect import flow
Name = Literal["a", "b"]

@flow
def pick(names: list[Name]) -> None:
    pass
"""

VALIDATE = (
    "import pickle, sys\n"
    "flow = pickle.loads(sys.stdin.buffer.read())\n"
    "print(flow.validate_parameters({'names': ['a']} if flow.name == 'pick' else"
    " {'providers': ['cartesia']}))\n"
)


def _validate_in_fresh_process(pickled: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", VALIDATE], input=pickled, capture_output=True, timeout=120
    )


def _pickle_demo(tmp_path: Path, portable: bool) -> bytes:
    (tmp_path / "demo_flow.py").write_text(DEMO)
    code = (
        "import sys, cloudpickle, demo_flow\n"
        "from flows.cli.serve import portable\n"
        f"flow = portable(demo_flow.pick) if {portable} else demo_flow.pick\n"
        "sys.stdout.buffer.write(cloudpickle.dumps(flow))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


def test_portable_keeps_them_for_any_signature(tmp_path: Path) -> None:
    done = _validate_in_fresh_process(_pickle_demo(tmp_path, portable=True))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "'names': ['a']" in done.stdout.decode()


def test_the_served_flow_validates_its_parameters_in_a_fresh_process() -> None:
    from flows.cli.serve import portable
    from flows.pipeline.flow import clone_voices

    done = _validate_in_fresh_process(cloudpickle.dumps(portable(clone_voices.with_options())))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "'providers': ['cartesia']" in done.stdout.decode()
