"""Content-addressed storage for processed audio: a file's name is the sha256 of its bytes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from flows import config


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def path_for(sha: str, ext: str, root: Path | None = None) -> Path:
    root = root or config.store_dir()
    return root / sha[:2] / f"{sha}.{ext}"


def put(data: bytes, ext: str, root: Path | None = None) -> str:
    """Write once, atomically: a crash never leaves a half file under a real hash."""
    sha = sha256_bytes(data)
    target = path_for(sha, ext, root)
    if target.exists():
        return sha
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:  # a full disk must not leave a half file behind for every later run
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


def put_written(write: Callable[[Path], object], ext: str, root: Path | None = None) -> str:
    """`put` for data written straight to a file by `write(path)`: an hour of WAV (0.3 GB) is
    never held as bytes beside the samples it came from."""
    root = root or config.store_dir()
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, suffix=f".{ext}.part")
    os.close(fd)
    try:
        write(Path(tmp))
        sha = sha256_file(Path(tmp))
        target = path_for(sha, ext, root)
        if target.exists():  # write once: the first copy's time is what the ledger guard reads
            Path(tmp).unlink()
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


def get(sha: str, ext: str, root: Path | None = None) -> bytes:
    return path_for(sha, ext, root).read_bytes()
