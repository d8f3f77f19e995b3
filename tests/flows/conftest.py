"""Shared pieces for the flow tests: a real Prefect test server, the emulator, a fresh data dir."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flow_cases import CLIPS, KEY, PG_URL, PROVIDERS, VOICES

from providers.emulator import control, server


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One real Prefect server for the session; heartbeats off (they add 1 s per flow run)."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def emulator() -> Iterator[server.Running]:
    with server.start() as running:
        yield running


@pytest.fixture
def env(
    emulator: server.Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point everything at the emulator and a fresh data dir; short retry backoffs."""
    control.reset(emulator.url)
    values = {
        **emulator.env(),
        "VOXCLONE_DATA_DIR": str(tmp_path / "data"),
        "VOXCLONE_HTTP_BACKOFF_BASE_S": "0.01",
        "VOXCLONE_HTTP_BACKOFF_MAX_S": "0.05",
        "VOXCLONE_HTTP_MAX_ATTEMPTS": "3",
    }
    for name in PROVIDERS:
        values[f"{name.upper()}_API_KEY"] = KEY
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("VOXCLONE_DB_URL", raising=False)
    return values


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """A one-voice inbox made of real speech, with a manifest."""
    voice = tmp_path / "inbox" / "breathe"
    voice.mkdir(parents=True)
    for name in CLIPS:
        shutil.copy(VOICES / "libri-3080" / name, voice / name)
    (voice / "voice.toml").write_text(
        'name = "Breathe Test"\nlanguage = "en-US"\ndescription = "test voice"\ngender = "female"\n'
    )
    return tmp_path / "inbox"


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private schema in the local PostgreSQL, dropped afterwards; skip when there is none."""
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except Exception as e:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(e).__name__})")
    schema = f"vx_{uuid.uuid4().hex[:10]}"
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("VOXCLONE_DB_URL", url)
    yield url
    with engine.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()
