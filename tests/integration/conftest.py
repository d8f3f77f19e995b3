"""Real Prefect servers (`prefect server start` subprocesses) and the emulator, shared per session.

Each server has its own PREFECT_HOME and a free loopback port; processes under test (serve,
deploy, workers) get a separate client PREFECT_HOME so no profile on the machine leaks in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from servers import PG_ADMIN_URL, PrefectServer, start_prefect_server, stop

from providers.emulator import control, server


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One real Prefect server (SQLite) for every integration test in the session."""
    running = start_prefect_server(tmp_path_factory.mktemp("prefect-server"))
    yield running
    stop(running.process)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An autocommit connection to the local PostgreSQL; skip when there is none."""
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except Exception as e:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(e).__name__})")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def prefect_server_pg(
    tmp_path_factory: pytest.TempPathFactory, pg_admin: sa.Engine
) -> Iterator[PrefectServer]:
    """A Prefect server whose own database is a fresh PostgreSQL database, dropped afterwards."""
    pytest.importorskip("asyncpg", reason="asyncpg (installed with prefect) is needed")
    name = f"vx_prefect_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        running = start_prefect_server(
            tmp_path_factory.mktemp("prefect-server-pg"),
            {"PREFECT_SERVER_DATABASE_CONNECTION_URL": url},
        )
        yield running
        stop(running.process)
    finally:
        with pg_admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def emulator() -> Iterator[server.Running]:
    with server.start() as running:
        yield running


@pytest.fixture
def emulator_url(emulator: server.Running) -> str:
    control.reset(emulator.url)
    return emulator.url
