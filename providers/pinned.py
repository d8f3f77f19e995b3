"""An httpx transport that connects to one address judged beforehand and stops at a deadline.

httpx resolves a URL's host itself when it connects, so a name judged public a moment before may
point elsewhere by then (DNS rebinding); and its timeouts are per socket operation, so a server
trickling a byte a second holds a download as long as it likes. This transport connects to the
address it is given whatever the URL's host says (TLS still checks the host's own certificate),
and lets no connect, read or write wait past `deadline` (a `time.monotonic()` value).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


class _Deadline(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _wait(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._wait(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._wait(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wait = self._wait(timeout, httpcore.ConnectTimeout)
        return _Deadline(self._stream.start_tls(ssl_context, server_hostname, wait), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Pinned(httpcore.NetworkBackend):
    def __init__(self, address: str, deadline: float) -> None:
        self._address = address
        self._deadline = deadline
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the deadline passed")
        wait = left if timeout is None else min(timeout, left)
        stream = self._backend.connect_tcp(self._address, port, wait, local_address, socket_options)
        return _Deadline(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a pinned transport connects over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """`httpx.HTTPTransport` that connects to `address` only, until `deadline`. Give it to an
    `httpx.Client(trust_env=False)`: a proxy from the environment would connect elsewhere."""

    def __init__(self, address: str, deadline: float) -> None:
        super().__init__()
        # httpx takes no network backend; its connection pool (httpcore's public API) does.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=1,
            network_backend=_Pinned(address, deadline),
        )
