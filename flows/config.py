"""Where voxclone keeps its files and its ledger. Read at call time so tests and the CLI can redirect."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("VOXCLONE_DATA_DIR", "data"))


def store_dir() -> Path:
    return data_dir() / "store"


def reports_dir() -> Path:
    return data_dir() / "reports"


def inbox_dir() -> Path:
    return data_dir() / "inbox"


def db_url() -> str:
    """SQLite next to the data by default; PostgreSQL (or anything SQLAlchemy speaks) via VOXCLONE_DB_URL."""
    url = os.environ.get("VOXCLONE_DB_URL")
    if url:
        return url
    path = data_dir() / "lineage.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


HTTP_SETTINGS = {
    "VOXCLONE_HTTP_MAX_ATTEMPTS": ("max_attempts", int),
    "VOXCLONE_HTTP_BACKOFF_BASE_S": ("backoff_base_s", float),
    "VOXCLONE_HTTP_BACKOFF_MAX_S": ("backoff_max_s", float),
    "VOXCLONE_HTTP_MAX_TOTAL_S": ("max_total_s", float),
}


def http_settings() -> dict[str, float | int]:
    """Retry budget overrides for the provider clients (the defaults live in providers.http)."""
    return {
        name: cast(os.environ[env])
        for env, (name, cast) in HTTP_SETTINGS.items()
        if os.environ.get(env)
    }
