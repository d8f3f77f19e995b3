"""One emulator per test session, on a free loopback port; reset before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from provider_cases import KEY, Sleeps

import providers
from providers.emulator import control, server


@pytest.fixture(scope="session")
def emulator() -> Iterator[server.Running]:
    with server.start() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(emulator: server.Running) -> None:
    control.reset(emulator.url)


@pytest.fixture
def state(emulator: server.Running) -> Callable[[], dict[str, Any]]:
    return lambda: control.state(emulator.url)


@pytest.fixture
def inject(emulator: server.Running) -> Callable[..., dict[str, Any]]:
    return lambda provider, kind, **kw: control.inject(emulator.url, provider, kind, **kw)


@pytest.fixture
def connect(emulator: server.Running) -> Iterator[Callable[..., providers.Client]]:
    clients: list[providers.Client] = []

    def make(name: str, *, key: str = KEY, **options: Any) -> providers.Client:
        settings = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "sleep": Sleeps()}
        settings.update(options)
        base = emulator.env()[providers.spec(name).base_url_env]
        client = providers.connect(name, key=key, base_url=base, **settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
