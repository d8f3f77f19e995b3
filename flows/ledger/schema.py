"""The ledger's tables: the system of record for what was processed, sent and created."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

MIGRATIONS = Path(__file__).parent / "migrations"  # Alembic's: they make these tables
metadata = sa.MetaData()

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(32)),
    sa.Column("duration_s", sa.Float),
    sa.Column("sample_rate", sa.Integer),
    sa.Column("channels", sa.Integer),
    sa.Column("metrics", sa.JSON),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("sha256", "path", name="uq_sources_sha_path"),
)

# One source processed with one set of settings; the key that makes reruns skip finished work.
prepared = sa.Table(
    "prepared",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("settings_hash", sa.String(64), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("speech", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("versions", sa.JSON, nullable=False),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("turns", sa.JSON),  # who speaks when (audio.turns.Turns as flows.records writes it)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("source_sha256", "settings_hash", name="uq_prepared_source_settings"),
)

# What one provider receives for one voice: assembled from prepared clips (the parts say where from).
takes = sa.Table(
    "takes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("voice", sa.String(200), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("parts", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("sha256", "provider", "voice", name="uq_takes_sha_provider_voice"),
)

# Written before a request is sent; completed after. The key makes a clone happen at most once.
clone_attempts = sa.Table(
    "clone_attempts",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("voice", sa.String(200), nullable=False),
    sa.Column("voice_name", sa.String(200), nullable=False),
    sa.Column("take_hashes", sa.JSON, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("verdict", sa.JSON),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("tries", sa.Integer, nullable=False, default=1),
    sa.Column("error", sa.Text),
    # Why a held attempt waits (flows.ledger.claims.Hold): "listing", "not-listed" and
    # "new-ledger" are looked at again by the next run, "unknown" (a lost answer that cannot be
    # looked up) and "ambiguous" wait for --force. None: not held.
    sa.Column("hold", sa.String(16)),
    sa.Column("provider_voice_id", sa.String(200)),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

provider_voices = sa.Table(
    "provider_voices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("voice_id", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("preview_url", sa.Text),
    sa.Column("raw", sa.JSON, nullable=False),
    sa.Column("attempt_key", sa.String(64), sa.ForeignKey("clone_attempts.key"), nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("provider", "voice_id", name="uq_provider_voices_provider_id"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("flow_run_id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("inbox", sa.Text, nullable=False),
    sa.Column("providers", sa.JSON, nullable=False),
    sa.Column("report_path", sa.Text),
    sa.Column("summary", sa.JSON),
)

# Source hashes by (path, size, mtime_ns): an unchanged file is not read again to learn its hash.
source_files = sa.Table(
    "source_files",
    metadata,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

# A settled voice × provider, keyed by everything that decides it (sources, settings, pipeline
# version, voice fields, provider options and base URL): a rerun with the same key is answered here.
answers = sa.Table(
    "answers",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("voice", sa.String(200), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("voice_id", sa.String(200)),  # None: the rules skipped the pair, nothing was sent
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("code_version", sa.String(64)),  # what judged a skip; another version judges again
)

# One row per clip per run that checked its voice: cosine to the voice's speaker, and whether
# the clip was left out of the takes as another speaker.
speaker_checks = sa.Table(
    "speaker_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("flow_run_id", sa.String(64), nullable=False),
    sa.Column("voice", sa.String(200), nullable=False),
    sa.Column("prepared_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("similarity", sa.Float),
    sa.Column("excluded", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("turns", sa.JSON),  # [{start, end, speaker, similarity, kept, reason}] (0006)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per clone check (0007): the provider's preview of a voice against the voice's speaker.
# `voice_id` is None when the check held the clone (Faseeh, --clone-check gate); the latest row
# of a voice is its check, so a rerun answered from the ledger and `voxclone check` agree.
clone_checks = sa.Table(
    "clone_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("voice", sa.String(200), nullable=False),
    sa.Column("voice_id", sa.String(200), index=True),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("similarity", sa.Float),
    sa.Column("ovrl", sa.Float),
    sa.Column("check", sa.JSON, nullable=False),  # flows.records.CloneCheck.to_dict()
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# What the ledger knows about itself: e.g. that a new ledger was accepted for this data dir.
ledger_notes = sa.Table(
    "ledger_notes",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
