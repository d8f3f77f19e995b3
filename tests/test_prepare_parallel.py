"""`voxclone prepare` on every core gives what it gives on one, and the CLI imports only what the
command it runs needs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
HEAVY = ("scipy", "librosa", "prefect", "noisereduce", "onnxruntime", "numba", "httpx", "sklearn")


def prepare(inputs: list[Path], out: Path, workers: int) -> tuple[int, dict]:
    cmd = [sys.executable, "-m", "flows.cli", "prepare", *map(str, inputs), "--out", str(out),
           "--json", "--workers", str(workers), "--denoise", "never"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture()
def inputs(tmp_path: Path) -> list[Path]:
    """Real speech of different lengths and rates, a bad file in the middle, and two inputs
    with the same stem (their outputs must get the same names in both modes)."""
    clips = sorted((SAMPLES / "clips").iterdir())[:3]
    voice = sorted((SAMPLES / "voices" / "libri-2414").glob("*.flac"))[:4]
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(voice[0], twin / voice[0].name)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    return [*clips, bad, *voice, twin / voice[0].name]


@pytest.mark.integration  # a process pool preparing every bundled clip twice
def test_parallel_output_equals_serial(tmp_path, inputs):
    code1, serial = prepare(inputs, tmp_path / "one", workers=1)
    code3, parallel = prepare(inputs, tmp_path / "three", workers=3)
    assert code1 == code3 == 1  # the broken file fails in both, the rest goes on
    assert [r["input"] for r in parallel["inputs"]] == [str(p) for p in inputs]
    assert [r["status"] for r in serial["inputs"]].count("error") == 1

    def normalised(report: dict, out: Path) -> str:
        return json.dumps(report, sort_keys=False).replace(str(out), "<out>")

    assert normalised(parallel, tmp_path / "three") == normalised(serial, tmp_path / "one")
    ok = [r for r in serial["inputs"] if r["status"] == "ok"]
    assert len({Path(r["output"]).name for r in ok}) == len(ok)  # twin got its own name
    for entry in ok:
        name = Path(entry["output"]).name
        one, three = tmp_path / "one" / name, tmp_path / "three" / name
        assert one.read_bytes() == three.read_bytes(), name


def test_workers_must_be_positive(tmp_path):
    cmd = [sys.executable, "-m", "flows.cli", "prepare", "x.wav", "--out", str(tmp_path),
           "--workers", "0"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 2 and "--workers" in proc.stderr and "at least 1" in proc.stderr


def modules_after(argv: list[str]) -> set[str]:
    """Top-level packages loaded once `voxclone <argv>` has parsed its arguments."""
    code = (
        "import sys\n"
        "from flows.cli import build_parser\n"
        f"argv = {argv!r}\n"
        "try:\n"
        "    build_parser(argv).parse_args(argv)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["prepare", "--help"], ["prepare", "a.wav", "--out", "o"], ["run", "--help"]],
)
def test_parsing_imports_nothing_heavy(argv):
    loaded = modules_after(argv)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    if argv[0] != "run":
        assert "flows" in loaded and not {m for m in loaded if m.startswith("prefect")}


def test_one_prepare_never_loads_prefect_or_scipy(tmp_path):
    """A whole plain `voxclone prepare` of a clean clip: the chain runs without scipy (its
    import alone costs about 1 s), Prefect, librosa or an HTTP client. onnxruntime (0.14 s) it
    does need: the speaker turns' CAM++ runs in it."""
    clip = sorted((SAMPLES / "voices" / "libri-3080").glob("*.flac"))[0]
    code = (
        "import sys\n"
        "from flows.cli import main\n"
        f"code = main(['prepare', {str(clip)!r}, '--out', {str(tmp_path)!r}])\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert "numpy" in loaded and "soundfile" in loaded  # it did run the chain
    assert "onnxruntime" in loaded  # it did find the speaker turns
    assert not loaded & (set(HEAVY) - {"onnxruntime"}), sorted(loaded & set(HEAVY))
