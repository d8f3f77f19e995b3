"""The content-addressed store: a name is the sha256 of the bytes, and no half file is ever left."""

from __future__ import annotations

import hashlib
import os

import pytest

from flows.ledger import store


def test_a_file_written_into_the_store_is_named_by_its_bytes(tmp_path):
    data = bytes(range(256)) * 1000
    sha = store.put_written(lambda path: path.write_bytes(data), "wav", tmp_path)
    assert sha == hashlib.sha256(data).hexdigest() == store.put(data, "wav", tmp_path)
    assert store.get(sha, "wav", tmp_path) == data
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{sha}.wav"]


def test_a_write_that_fails_leaves_nothing_behind(tmp_path):
    def half(path):
        path.write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        store.put_written(half, "wav", tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_same_bytes_written_again_leave_the_first_copy_untouched(tmp_path):
    """The ledger's guard dates the store by its files: a rerun must not make them look new."""
    data = b"RIFF" + bytes(1000)
    sha = store.put_written(lambda path: path.write_bytes(data), "wav", tmp_path)
    target = store.path_for(sha, "wav", tmp_path)
    os.utime(target, (1_000_000_000, 1_000_000_000))
    assert store.put_written(lambda path: path.write_bytes(data), "wav", tmp_path) == sha
    assert target.stat().st_mtime == 1_000_000_000
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [target]
