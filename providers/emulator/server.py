"""Serve the emulator with uvicorn: in a background thread for tests, or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn

from ..registry import SPECS
from .app import create_app
from .state import PREFIXES

ENV_NAMES: dict[str, str] = {s.name: s.base_url_env for s in SPECS.values()}


def base_urls(url: str) -> dict[str, str]:
    return {ENV_NAMES[p]: f"{url}{prefix}" for p, prefix in PREFIXES.items()}


def _config(host: str, port: int, keys: dict[str, str] | None) -> uvicorn.Config:
    # h11 + no proxy headers: the fault injector needs uvicorn's own `send` to drop connections.
    return uvicorn.Config(
        create_app(keys=keys),
        host=host,
        port=port,
        http="h11",
        lifespan="off",
        proxy_headers=False,
        log_level="warning",
        access_log=False,
    )


@dataclass
class Running:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket = field(repr=False)

    def env(self) -> dict[str, str]:
        return base_urls(self.url)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(host: str = "127.0.0.1", port: int = 0, *, keys: dict[str, str] | None = None) -> Running:
    """Bind first (port 0 = a free one), then serve on that socket from a daemon thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(_config(host, port, keys))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="voxclone-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("emulator did not start")
        time.sleep(0.01)
    return Running(f"http://{host}:{sock.getsockname()[1]}", server, thread, sock)


def run(host: str, port: int) -> None:
    """Serve in the foreground until interrupted (`voxclone emulator` prints what a shell needs)."""
    uvicorn.Server(_config(host, port, None)).run()
