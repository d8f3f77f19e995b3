"""A small real HTTP server for the preview tests: it serves audio, trickles it, redirects, fails,
says nothing, and remembers every request's path and headers (to see where the key went)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from provider_cases import wav_bytes

WAV = wav_bytes(0.5)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str, dict[str, str]]]  # (method, raw path, headers)
    stop: threading.Event

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, kind: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", headers.pop("length", str(len(body))))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.server.seen.append(("POST", self.path, dict(self.headers)))
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._send(201, json.dumps({"id": "v1"}).encode(), "application/json")

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, dict(self.headers)))
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        name = url.path.rsplit("/", 1)[-1]
        if name == "redirect":
            self._send(int(q.get("status", "302")), b"", "text/plain", location=q["to"])
        elif name == "loop":  # to itself, relative
            self._send(302, b"", "text/plain", location=self.path)
        elif name == "trickle":  # one byte every `every` seconds
            count, every = int(q.get("bytes", "100")), float(q.get("every", "0.2"))
            self.send_response(200)
            self.send_header("content-type", "audio/wav")
            self.send_header("content-length", str(count))
            self.end_headers()
            for i in range(count):
                if self.server.stop.wait(every):
                    return
                self.wfile.write(WAV[i : i + 1])
                self.wfile.flush()
        elif name == "silent":  # accepts, says nothing
            self.server.stop.wait(60)
        elif name == "html":
            self._send(200, b"<html>login</html>", "text/html; charset=utf-8")
        elif name == "empty":
            self._send(200, b"", "audio/wav")
        elif name == "big":
            size = int(q["bytes"])
            if q.get("declare") == "0":  # no content-length: the body ends when the server closes
                self.send_response(200)
                self.send_header("content-type", "audio/mpeg")
                self.end_headers()
                self.wfile.write(b"\x00" * size)
                self.close_connection = True
            else:
                self._send(200, b"\x00" * size, "audio/mpeg")
        elif name == "error":  # repeats the credentials back, as some error pages do
            said = f"upstream saw {self.headers.get('authorization')}"
            self._send(int(q.get("status", "503")), json.dumps({"message": said}).encode(),
                       "application/json")  # fmt: skip
        else:
            self._send(200, WAV, "audio/wav")


def redirect(origin: str, to: str, status: int = 302) -> str:
    """A URL on `origin` that redirects to `to`."""
    return f"{origin}/v1/redirect?status={status}&to={quote(to, safe='')}"


@contextlib.contextmanager
def serve(host: str = "127.0.0.1", port: int = 0) -> Iterator[Server]:
    server = Server((host, port), Handler)
    server.seen = []
    server.stop = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        time.sleep(0)
