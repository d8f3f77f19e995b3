"""The scale-out path, run: Prefect server on PostgreSQL, Dask task runner, ledger on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from servers import (
    BIN,
    PrefectServer,
    client_env,
    global_limits,
    make_inbox,
    serve_and_run,
)

from providers.emulator import control

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def ledger_url(pg_admin: sa.Engine) -> Iterator[str]:
    """The ledger in a private schema of the local PostgreSQL, dropped afterwards."""
    schema = f"vx_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    with pg_admin.connect() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


def test_served_dask_run_on_postgres_creates_voices_with_lineage(
    prefect_server_pg: PrefectServer, emulator, emulator_url: str, ledger_url: str, tmp_path: Path
) -> None:
    pytest.importorskip("prefect_dask")
    inbox = make_inbox(tmp_path, voices=2)
    env = client_env(
        prefect_server_pg,
        emulator,
        tmp_path / "data",
        VOXCLONE_DB_URL=ledger_url,
        VOXCLONE_CARTESIA_CONCURRENCY="1",
    )
    # Both cartesia creates and the voice lists read before them are held 1 s: without a cap
    # across Dask workers (lookups included) they would overlap.
    control.inject(emulator_url, "cartesia", "delay", delay_s=1.0, count=2, method="POST")
    control.inject(emulator_url, "cartesia", "delay", delay_s=1.0, count=2, method="GET")
    run = serve_and_run(
        prefect_server_pg.api_url,
        env,
        inbox,
        "itest-dask",
        tmp_path / "serve.log",
        "--task-runner",
        "dask",
    )
    assert run["state"]["type"] == "COMPLETED", (
        run["state"],
        (tmp_path / "serve.log").read_text()[-3000:],
    )
    state = control.state(emulator_url)
    voices = state["voices"]
    assert {p: len(v) for p, v in voices.items() if v} == {"althea": 2, "cartesia": 2}
    assert state["max_in_flight"]["cartesia"] == 1
    assert global_limits(prefect_server_pg.api_url)["provider:cartesia"] == 1

    inbox_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in inbox.rglob("*.flac")}
    ledger = sa.create_engine(ledger_url)
    with ledger.connect() as c:
        rows = c.execute(
            sa.text("SELECT provider, voice_id, flow_run_id FROM provider_voices")
        ).all()
    ledger.dispose()
    assert sorted(r.provider for r in rows) == ["althea", "althea", "cartesia", "cartesia"]
    assert {r.flow_run_id for r in rows} == {run["id"]}
    for provider, voice_id, _ in rows:
        shown = subprocess.run(
            [str(BIN / "voxclone"), "lineage", voice_id, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        record = json.loads(shown.stdout)
        assert record["attempt"]["provider"] == provider
        sources = {s["sha256"] for s in record["sources"]}
        assert sources and sources <= inbox_hashes
