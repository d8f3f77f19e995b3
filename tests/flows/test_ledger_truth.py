"""The ledger tells the truth about itself, through the commands a user types: an empty or
missing ledger beside stored files is said to be one (not "integrity ok", not "(none)"), a
read-only command never migrates (it says a migration is due and which command runs it), `ledger
check` names what it found, and `ledger backup DIR/` writes into the folder or says it is not there.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from flows import config, ledger
from flows.cli import main
from flows.ledger import database, schema, store, upkeep

OLDER = "0005"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VOXCLONE_DB_URL", raising=False)
    database._engine.cache_clear()
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def _db() -> Path:
    return config.data_dir() / "lineage.db"


def _stored(n: int) -> None:
    for i in range(n):
        store.put(f"take {i}".encode(), "wav")


def _out(capsys: pytest.CaptureFixture) -> tuple[str, str]:
    captured = capsys.readouterr()
    return captured.out, captured.err


def _schema(db: Path) -> str | None:
    with sqlite3.connect(db) as c:
        try:
            return c.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        except sqlite3.OperationalError:
            return None


@pytest.mark.parametrize("how", ["0 bytes", "no tables", "no file"])
def test_an_empty_ledger_beside_stored_files_is_reported_as_such(
    how: str, data: Path, capsys
) -> None:
    _stored(3)
    db = _db()
    if how == "0 bytes":
        db.write_bytes(b"")
    elif how == "no tables":
        sqlite3.connect(db).close()
        db.write_bytes(db.read_bytes())  # a valid SQLite file with nothing in it
    before = db.read_bytes() if db.exists() else None
    what = "no ledger" if how == "no file" else "empty ledger"

    assert main(["ledger", "check", "--json"]) == 1
    found = json.loads(_out(capsys)[0])
    assert found["problem"] == f"{what} beside 3 stored files in {config.store_dir()}"
    assert found["damaged"] is False and found["empty"] is True and found["stored"] == 3

    assert main(["ledger", "check"]) == 1
    out, err = _out(capsys)
    assert f"state     {what} beside 3 stored files" in out
    assert "schema    none: no tables yet" in out
    assert "Restore a backup" in err

    assert main(["voices"]) == 2
    out, err = _out(capsys)
    assert "(none)" not in out
    assert f"{what} beside 3 stored files" in err and "Restore a backup" in err
    assert main(["lineage", "some-voice-id"]) == 2
    assert f"{what} beside 3 stored files" in _out(capsys)[1]
    assert (db.read_bytes() if db.exists() else None) == before  # nothing created or changed


def test_a_fresh_data_dir_is_no_problem_and_nothing_is_created(data: Path, capsys) -> None:
    assert main(["voices"]) == 0
    assert "(none)" in _out(capsys)[0]
    assert main(["ledger", "check"]) == 0
    assert "state     none yet: no run has used this data dir" in _out(capsys)[0]
    assert not _db().exists()


def _older_ledger(db: Path) -> None:
    """A ledger an older voxclone left: migrated only up to OLDER."""
    cfg = Config()
    cfg.set_main_option("script_location", str(schema.MIGRATIONS))
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, OLDER)
    engine.dispose()


def test_read_only_commands_never_migrate_and_say_which_command_does(data: Path, capsys) -> None:
    db = _db()
    _older_ledger(db)
    before = db.read_bytes()
    head = upkeep.head_revision()
    assert head != OLDER

    for argv in (["voices"], ["voices", "--json"], ["lineage", "v1"]):
        assert main(argv) == 2, argv
        err = _out(capsys)[1]
        assert f"is at schema {OLDER} and this voxclone reads {head}: a migration is due" in err
        assert "`voxclone ledger migrate`" in err
    assert main(["ledger", "check"]) == 0  # nothing wrong with it: it is only older
    out, _ = _out(capsys)
    assert f"state     schema {OLDER}: a migration to {head} is due" in out
    assert db.read_bytes() == before and _schema(db) == OLDER  # read, never changed

    assert main(["ledger", "migrate"]) == 0
    assert f"schema {OLDER} -> {head}" in _out(capsys)[0]
    assert _schema(db) == head
    assert main(["voices"]) == 0
    assert main(["ledger", "migrate"]) == 0
    assert "nothing to do" in _out(capsys)[0]


def test_check_names_what_it_found_in_a_damaged_or_foreign_file(data: Path, capsys) -> None:
    db = _db()
    db.write_bytes(b"this is not a database" * 100)
    assert main(["ledger", "check"]) == 1
    out, err = _out(capsys)
    assert "state     unreadable: file is not a database" in out
    assert "schema    not read" in out and "no run has used it" not in out
    assert "restore a backup" in err

    db.unlink()
    with sqlite3.connect(db) as c:  # someone else's database at the ledger's path
        c.execute("CREATE TABLE runs (x)")
    assert main(["ledger", "check", "--json"]) == 1
    found = json.loads(_out(capsys)[0])
    assert found["problem"] == "not a voxclone ledger: 1 of its tables but no schema version"


def test_backup_into_a_folder_or_a_clear_no(data: Path, tmp_path: Path, capsys) -> None:
    ledger.engine()  # a migrated, empty ledger
    assert main(["ledger", "backup", f"{tmp_path}/nope/deeper/"]) == 2
    assert f"{tmp_path}/nope/deeper/ does not exist; create the folder first" in _out(capsys)[1]
    assert main(["ledger", "backup", f"{tmp_path}/nope/new.db"]) == 2
    assert f"{tmp_path}/nope/ does not exist" in _out(capsys)[1]
    assert not (tmp_path / "nope").exists()

    folder = tmp_path / "backups"
    folder.mkdir()
    assert main(["ledger", "backup", f"{folder}/"]) == 0
    assert (folder / "lineage.db").is_file()
    assert str(folder / "lineage.db") in _out(capsys)[0]
    assert main(["ledger", "backup", str(folder)]) == 2  # the same name again: never over it
    assert "exists; choose a new name" in _out(capsys)[1]
