"""One source for every default: the CLI flags of run/demo/serve/prepare come from RunOptions,
whose audio defaults come from the preparation chain's Settings; the data dir moves the inbox."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path

import pytest

from audio.chain import Settings
from flows.cli import build_parser
from flows.cli.run import AUDIO_FLAGS, RUN_FLAGS, SEND_FLAGS
from flows.pipeline.options import RunOptions

COMMANDS_WITH_RUN_OPTIONS = {
    "run": [],
    "demo": [],
    "serve": [],
    "prepare": ["in.wav", "--out", "out"],
}


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser(argv).parse_args(argv)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


@pytest.mark.parametrize("command", sorted(COMMANDS_WITH_RUN_OPTIONS))
def test_every_cli_default_is_the_run_options_default(command: str):
    args = _parse([command, *COMMANDS_WITH_RUN_OPTIONS[command]])
    flags = AUDIO_FLAGS if command == "prepare" else RUN_FLAGS
    defaults = RunOptions(workers=1)  # workers has a factory default: the CLI leaves it unset
    for flag, field in flags.items():
        value = getattr(args, _dest(flag))
        if field == "workers":
            assert value is None
        else:
            assert value == getattr(defaults, field), (command, flag)
    if command == "run":
        assert {_dest(f): getattr(args, _dest(f)) for f in SEND_FLAGS} == {
            "dry_run": RunOptions().dry_run,
            "force": RunOptions().force,
            "accept_new_ledger": RunOptions().accept_new_ledger,
        }


def test_run_options_start_from_the_prepare_settings():
    settings, options = Settings(), RunOptions()
    assert options.target_lufs == settings.target_lufs == -20.0
    assert options.ceiling_dbtp == settings.ceiling_dbtp == -3.0
    assert options.sample_rate == settings.target_rate == 44100
    assert options.denoise == settings.denoise == "auto"


def test_prepare_and_the_flow_build_the_chain_settings_one_way():
    """`voxclone prepare` with the flow's flags gets the flow's settings, but for DNSMOS (only
    with --quality) and speaker turns (not with --speaker all)."""
    from flows.cli.prepare import _settings

    argv = ["prepare", "in.wav", "--out", "o", "--rate", "24000", "--denoise", "never"]
    flow = RunOptions(sample_rate=24000, denoise="never").chain_settings()
    assert _settings(_parse([*argv, "--quality"])) == flow
    assert _settings(_parse(argv)) == Settings(target_rate=24000, denoise="never")
    assert not _settings(_parse([*argv, "--speaker", "all"])).speaker_turns


def test_the_run_form_leaves_out_what_the_starting_command_sets():
    """The process pool and the terminal's progress bar are the command's (run, serve), not a
    deployment run's: the UI's form does not offer them."""
    from prefect.utilities.callables import parameter_schema

    from flows.pipeline.flow import clone_voices

    schema = parameter_schema(clone_voices.fn).model_dump()
    shown = schema["definitions"]["RunOptions"]["properties"]
    assert set(shown) == set(RunOptions.model_fields) - {"cpu_pool", "progress_bar"}
    assert RunOptions(cpu_pool=False, progress_bar=True).model_dump()["cpu_pool"] is False


def test_options_from_the_command_line_reach_run_options():
    from flows.cli.run import options_from

    argv = ["run", "--target-lufs", "-23", "--ceiling-dbtp", "-1.5", "--rate", "24000"]
    argv += ["--denoise", "never", "--workers", "3", "--dry-run"]
    options = RunOptions(**options_from(_parse(argv)))
    assert (options.target_lufs, options.ceiling_dbtp, options.sample_rate) == (-23, -1.5, 24000)
    assert (options.denoise, options.workers, options.dry_run, options.force) == (
        "never",
        3,
        True,
        False,
    )
    assert options.accept_new_ledger is False
    accepted = RunOptions(**options_from(_parse(["run", "--accept-new-ledger"])))
    assert accepted.accept_new_ledger is True


@pytest.mark.parametrize("command", sorted(COMMANDS_WITH_RUN_OPTIONS))
def test_rate_accepts_exactly_what_run_options_accepts(
    command: str, capsys: pytest.CaptureFixture[str]
):
    allowed = typing.get_args(RunOptions.model_fields["sample_rate"].annotation)
    extra = COMMANDS_WITH_RUN_OPTIONS[command]
    for rate in allowed:
        assert _parse([command, *extra, "--rate", str(rate)]).rate == rate
    with pytest.raises(SystemExit) as refused:
        _parse([command, *extra, "--rate", "12345"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "--rate" in err and "12345" in err
    assert all(str(rate) in err for rate in allowed), err


def test_bounds_and_choices_are_checked_while_parsing(capsys: pytest.CaptureFixture[str]):
    for argv, words in [
        (["--target-lufs", "-5"], ["--target-lufs", "-5", "-40", "-10"]),
        (["--ceiling-dbtp", "1"], ["--ceiling-dbtp", "-12", "0"]),
        (["--target-lufs", "loud"], ["--target-lufs", "loud"]),
        (["--workers", "0"], ["--workers", "1", "64"]),
        (["--denoise", "sometimes"], ["auto", "always", "never"]),
    ]:
        with pytest.raises(SystemExit):
            _parse(["run", *argv])
        err = capsys.readouterr().err
        assert all(w in err for w in words), (argv, err)


def test_help_text_comes_from_the_field_descriptions(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        _parse(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag, field in RUN_FLAGS.items():
        description = RunOptions.model_fields[field].description
        if description:  # as a sentence: its own full stop gives way to the limits and default
            assert " ".join(description.rstrip(".").split()) in out, flag


@pytest.mark.parametrize("command", ["run", "serve"])
def test_the_data_dir_moves_the_default_inbox(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("VOXCLONE_DATA_DIR", raising=False)
    assert Path(_parse([command]).inbox) == Path("data") / "inbox"
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Path(_parse([command]).inbox) == tmp_path / "elsewhere" / "inbox"


def test_one_list_of_audio_extensions():
    from flows.cli import prepare
    from flows.pipeline import inbox

    assert prepare.AUDIO_SUFFIXES is inbox.AUDIO_EXTENSIONS
    assert {".wav", ".flac", ".mp3", ".m4a", ".aiff"} <= inbox.AUDIO_EXTENSIONS
