"""Nothing lost, nothing sent twice: what `voxclone run --json` does with an emptied, damaged or
backed-up ledger, and with a provider whose voice list cannot be read, against the emulator."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from flow_cases import PROVIDERS, ROOT, emulator_voices

from flows import config, ledger
from flows.cli import main
from flows.ledger import database, familiar
from providers.emulator import control

LISTABLE = [p for p in PROVIDERS if p != "callers"]


def _run(capsys: pytest.CaptureFixture, inbox: Path, *extra: str) -> tuple[int, dict, str]:
    code = main(["run", str(inbox), "--providers", "all", "--workers", "2", "--json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _results(run: dict) -> dict[str, dict]:
    return {r["provider"]: r for r in run["results"]}


def _db() -> Path:
    return config.data_dir() / "lineage.db"


def _forget_engines() -> None:
    """The next `ledger.engine()` opens the file anew (as the next `voxclone` process would)."""
    database.engine().dispose()
    database._engine.cache_clear()


def _replace_ledger(data: bytes) -> None:
    _forget_engines()
    db = _db()
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(data)


def _requests(url: str) -> dict[str, int]:
    return dict(control.state(url)["requests"])


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.integration  # a real Prefect server
def test_an_emptied_ledger_reconciles_what_can_be_listed_and_refuses_the_rest(
    prefect_api, env, inbox: Path, emulator, tmp_path: Path, capsys
) -> None:
    url = emulator.url
    code, first, _ = _run(capsys, inbox)
    assert code == 0, first["results"]
    created = {p: r["voice_id"] for p, r in _results(first).items()}
    assert {r["status"] for r in first["results"]} == {"created"}

    # The run ended with a checkpoint: lineage.db alone (a backup that missed the WAL) is whole.
    alone = tmp_path / "alone.db"
    shutil.copy(_db(), alone)
    assert _count(alone, "runs") == 1 and _count(alone, "provider_voices") == len(PROVIDERS)
    assert not Path(f"{_db()}-wal").exists() or Path(f"{_db()}-wal").stat().st_size == 0

    # `ledger check` and `ledger backup` on the healthy ledger.
    assert main(["ledger", "check", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["integrity"] == ["ok"] and checked["schema"] == checked["head"]
    assert checked["counts"]["runs"] == 1 and checked["damaged"] is False
    assert main(["ledger", "backup", str(tmp_path / "backup.db")]) == 0
    assert "1 runs, 6 voices, integrity ok" in capsys.readouterr().out
    assert _count(tmp_path / "backup.db", "provider_voices") == len(PROVIDERS)
    assert main(["ledger", "backup", str(tmp_path / "backup.db")]) == 2  # never over a copy
    assert "exists" in capsys.readouterr().err

    # Emptied (a restored empty backup): said so, and nothing is created again where the
    # provider can be asked.
    _replace_ledger(b"")
    assert main(["ledger", "check", "--json"]) == 1
    emptied = json.loads(capsys.readouterr().out)
    assert emptied["problem"].startswith("empty ledger beside ") and emptied["stored"] > 0
    assert main(["voices"]) == 2
    assert f"empty ledger beside {emptied['stored']} stored files" in capsys.readouterr().err
    assert _db().read_bytes() == b""  # read-only: not migrated, not touched
    before = _requests(url)
    code, second, err = _run(capsys, inbox)
    results = _results(second)
    assert code == 1  # Callers is held: the run did not settle
    for provider in LISTABLE:
        assert results[provider]["status"] == "reconciled", results[provider]
        assert results[provider]["voice_id"] == created[provider]
    counts = {p: len(v) for p, v in emulator_voices(url).items()}
    assert counts == {p: 1 for p in PROVIDERS}
    after = _requests(url)
    # One request per listable provider: its voice list, read once for the run; no create.
    assert {p: after[p] - before.get(p, 0) for p in LISTABLE} == {p: 1 for p in LISTABLE}
    callers = results["callers"]
    assert callers["status"] == "held" and after["callers"] == before["callers"]
    assert "--accept-new-ledger" in callers["error"] and str(_db().resolve()) in callers["error"]
    assert "Traceback" not in err

    # A plain rerun asks again (nothing sent), --accept-new-ledger sends, once.
    code, third, _ = _run(capsys, inbox)
    assert code == 1 and _results(third)["callers"]["status"] == "held"
    assert _requests(url)["callers"] == before["callers"]
    code, fourth, _ = _run(capsys, inbox, "--accept-new-ledger")
    assert code == 0, fourth["results"]
    assert _results(fourth)["callers"]["status"] == "created"
    assert {r["status"] for r in fourth["results"] if r["provider"] != "callers"} == {"exists"}
    assert len(emulator_voices(url)["callers"]) == 2  # the duplicate the flag accepted
    assert familiar.accepted(ledger.engine())  # accepted for good: later runs do not ask again


@pytest.mark.integration  # a real Prefect server
def test_a_voice_list_that_cannot_be_read_holds_and_the_rerun_looks_again(
    prefect_api, env, inbox: Path, emulator, capsys
) -> None:
    url = emulator.url
    control.inject(url, "elevenlabs", "503", count=-1, method="GET")
    code = main(["run", str(inbox), "--providers", "elevenlabs", "--workers", "2", "--json"])
    run = json.loads(capsys.readouterr().out)
    held = _results(run)["elevenlabs"]
    assert code == 1 and held["status"] == "held"
    assert "voice list could not be read" in held["error"] and "--force" in held["error"]
    assert emulator_voices(url).get("elevenlabs", []) == []

    control.clear_faults(url)
    code = main(["run", str(inbox), "--providers", "elevenlabs", "--workers", "2", "--json"])
    again = _results(json.loads(capsys.readouterr().out))["elevenlabs"]
    assert code == 0 and again["status"] == "created", again  # not answered "held" again
    assert len(emulator_voices(url)["elevenlabs"]) == 1


def _voxclone(env: dict[str, str], prefect_api: str, *argv: str) -> subprocess.CompletedProcess:
    child = {**os.environ, **env, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *argv],
        env=child,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _truncated_ledger(path: Path) -> bytes:
    """A real ledger with some rows, cut in half (a copy interrupted, a full disk)."""
    eng = ledger.engine(f"sqlite:///{path}")
    with eng.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO runs (flow_run_id, started_at, inbox, providers) VALUES (?, ?, ?, '[]')",
            [(f"run-{i}", "2026-01-01 00:00:00", "x" * 400) for i in range(2000)],
        )
    ledger.checkpoint(eng)
    eng.dispose()
    data = path.read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize("damage", ["random", "truncated"])
@pytest.mark.integration  # a real Prefect server
def test_a_damaged_ledger_is_one_clear_error_for_every_command(
    damage, prefect_api, env, inbox: Path, emulator, tmp_path: Path
) -> None:
    data = os.urandom(64 * 1024) if damage == "random" else _truncated_ledger(tmp_path / "t.db")
    db = Path(env["VOXCLONE_DATA_DIR"]) / "lineage.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(data)
    commands = [
        ["run", str(inbox), "--providers", "cartesia", "--json"],
        ["voices"],
        ["lineage", "some-voice-id"],
        ["ledger", "check"],
    ]
    for argv in commands:
        done = _voxclone(env, prefect_api, *argv)
        assert done.returncode != 0, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (argv, done.stderr)
        assert str(db.resolve()) in done.stderr, (argv, done.stderr)
        assert "restore a backup" in done.stderr.lower(), (argv, done.stderr)
    assert sum(_requests(emulator.url).values()) == 0  # nothing was sent
    assert db.read_bytes() == data  # and the damaged file was left as it was, for a rescue


def test_ledger_backup_on_postgresql_says_to_use_pg_dump(pg_url, capsys) -> None:
    ledger.engine()  # migrated
    assert main(["ledger", "backup", "anywhere.db"]) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert main(["ledger", "check", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["dialect"] == "postgresql" and checked["schema"] == checked["head"]
    assert checked["counts"]["runs"] == 0 and checked["damaged"] is False
