"""The shape of what `voxclone prepare --json` and `voxclone run --json` print: every key path,
the key order of every object and the JSON types of every value, so a change in the records
behind them cannot change what scripts read.

`python tests/json_shapes.py` writes tests/fixtures/json_shapes.json from the outputs of the
voxclone its interpreter runs, for the tests to compare today's outputs of the same inputs with.
It was first made with voxclone at 299b190, before the clip record of issue 28; make it again
when an output is meant to change, and say so in the commit. The libraries `prepare` lists
under `versions` are whatever is installed, so only that object's presence counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "json_shapes.json"
MALE = ROOT / "data/samples/clips/librispeech_train-clean-100_1081-125237-0000_male.flac"
RUN_ARGS = ["--providers", "cartesia", "--dry-run", "--json"]  # on tests/flows' `inbox`


def shape(value: Any, path: str = "$", out: dict[str, list[str]] | None = None) -> dict:
    """{key path: sorted kinds}: an object's kind is its keys in order, a list's is "[]"."""
    out = {} if out is None else out
    if path == "$.versions":
        kind = "{…}"
    elif isinstance(value, dict):
        kind = "{" + ",".join(value) + "}"
        for key, item in value.items():
            shape(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        kind = "[]"
        for item in value:
            shape(item, f"{path}[]", out)
    elif value is None:
        kind = "null"
    else:
        kind = {bool: "bool", int: "number", float: "number", str: "string"}[type(value)]
    kinds = out.setdefault(path, [])
    if kind not in kinds:
        kinds.append(kind)
        kinds.sort()
    return out


def prepare_inputs(folder: Path) -> list[str]:
    """A one-speaker clip, a two-speaker podcast with a music bed, and a file that is not audio."""
    sys.path.insert(0, str(ROOT / "tests"))
    import conversations as cv

    podcast = cv.podcast(host_clips=3, guest_clips=2).write(folder / "podcast.wav")
    notes = folder / "notes.wav"
    notes.write_text("not audio at all\n" * 20)
    return [str(MALE), str(podcast), str(notes)]


def _write() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "flows"))
    from conftest import inbox  # the run test's own inbox

    from providers.emulator.server import start

    voxclone = str(Path(sys.executable).parent / "voxclone")
    with tempfile.TemporaryDirectory() as tmp, start() as emulator:
        folder = Path(tmp)
        inputs = prepare_inputs(folder)
        prepare = [voxclone, "prepare", *inputs, "--out", str(folder / "out"), "--json"]
        printed = subprocess.run(prepare, capture_output=True, text=True, check=False).stdout
        env = {**os.environ, **emulator.env(), "VOXCLONE_DATA_DIR": str(folder / "data"),
               "PREFECT_HOME": str(folder / "prefect"), "CARTESIA_API_KEY": "k"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)  # a temporary server of its own
        run = [voxclone, "run", str(inbox.__wrapped__(folder)), *RUN_ARGS]
        ran = subprocess.run(run, capture_output=True, text=True, check=True, env=env).stdout
    where = ["-c", "import flows, pathlib; print(pathlib.Path(flows.__file__).parent)"]
    source = subprocess.run([sys.executable, *where], capture_output=True, text=True).stdout
    git = ["git", "-C", source.strip(), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()
    made = f"python tests/json_shapes.py, with the voxclone of commit {commit}"
    fixture = {"made_by": made, "prepare": shape(json.loads(printed)),
               "run": shape(json.loads(ran))}  # fmt: skip
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(_dumps(fixture) + "\n")


def _dumps(fixture: dict[str, Any]) -> str:
    """JSON with one key path a line, so a diff of the fixture reads as a diff of the shape."""
    parts = [f' "made_by": {json.dumps(fixture["made_by"])}']
    for command in ("prepare", "run"):
        paths = ",\n".join(
            f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in fixture[command].items()
        )
        parts.append(f' "{command}": {{\n{paths}\n }}')
    return "{\n" + ",\n".join(parts) + "\n}"


def expected(command: str) -> dict[str, list[str]]:
    return json.loads(FIXTURE.read_text())[command]


if __name__ == "__main__":
    _write()
