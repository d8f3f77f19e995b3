"""The exactly-once protocol for clone requests.

A clone request is preceded by an intent row keyed by hash(provider, base URL, name, takes, options).
Whoever inserts the row owns the request. A row left `pending` by a dead owner is taken over and
reconciled against the provider before anything is sent again; a `succeeded` row is never sent again.
A `held` row waits for --force, unless what held it can clear on its own (`RECHECKED`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from flows.ledger.schema import clone_attempts, provider_voices


# Why an attempt is held. The first three can clear without anyone deciding anything (the provider
# answers again, the voice shows up or still does not, the user accepts the new ledger), so the
# next run looks again instead of answering "held"; the others need a person, and --force.
class Hold(StrEnum):
    LISTING = "listing"  # the provider's voice list could not be read
    NOT_LISTED = "not-listed"  # a create's answer was lost and the voice is not on the list (yet)
    NEW_LEDGER = "new-ledger"  # a provider that cannot list, and a ledger that is new to it
    UNKNOWN = "unknown"  # a create whose answer was lost: the voice may exist
    AMBIGUOUS = "ambiguous"  # several voices by this name that the ledger does not know


RECHECKED: frozenset[Hold] = frozenset({Hold.LISTING, Hold.NOT_LISTED, Hold.NEW_LEDGER})

# A pending row whose owner lives on another host is trusted for this long before it counts as orphaned.
FOREIGN_LEASE = timedelta(minutes=30)


def now() -> datetime:
    return datetime.now(UTC)


def stable_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# --- ownership ------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@cache
def owner_id() -> str:
    """host:pid:start — the start time guards against a recycled pid."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str, updated_at: datetime) -> bool:
    host, pid, start = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return now() - _aware(updated_at) < FOREIGN_LEASE
    return _start_time(int(pid)) == start


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# --- the clone protocol ---------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What the caller may do with a clone request.

    send: we own it and nothing was ever sent. reconcile: we own it, but an earlier owner may
    have sent it; look the voice up first. done/busy/held: do not send.
    """

    action: Literal["send", "reconcile", "done", "busy", "held"]
    row: dict[str, Any]


def idempotency_key(
    provider: str, base_url: str, voice_name: str, take_hashes: list[str], options: dict
) -> str:
    return stable_hash([provider, base_url.rstrip("/"), voice_name, take_hashes, options])


def claim(
    eng: sa.Engine, intent: dict[str, Any], *, force: bool = False, again: bool = False
) -> Claim:
    """Insert the intent row or decide, from the row already there, whether we may send.
    `again`: a succeeded row is taken over too (`--force` on a voice whose name, description or
    labels changed since it was cloned: a new voice is made with the new ones)."""
    me = owner_id()
    for _ in range(5):
        inserted = False
        with contextlib.suppress(sa.exc.IntegrityError), eng.begin() as c:
            t = now()
            c.execute(
                clone_attempts.insert().values(
                    status="pending", owner=me, tries=1, created_at=t, updated_at=t, **intent
                )
            )
            inserted = True
        row = attempt(eng, intent["key"])
        if inserted:
            return Claim("send", row)
        status = row["status"]
        if status == "succeeded" and not again:
            return Claim("done", row)
        if status == "pending" and owner_alive(row["owner"], row["updated_at"]):
            return Claim("busy", row)
        if status == "held" and not force and row.get("hold") not in RECHECKED:
            return Claim("held", row)
        # failed, orphaned pending, or held with --force: take over with a compare-and-swap.
        with eng.begin() as c:
            taken = c.execute(
                clone_attempts.update()
                .where(
                    clone_attempts.c.key == row["key"],
                    clone_attempts.c.status == status,
                    clone_attempts.c.owner == row["owner"],
                    clone_attempts.c.tries == row["tries"],
                )
                .values(
                    status="pending",
                    owner=me,
                    tries=row["tries"] + 1,
                    hold=None,
                    updated_at=now(),
                    error=row["error"],
                    request=intent["request"],
                    verdict=intent.get("verdict"),
                )
            ).rowcount
        if taken == 1:
            return Claim(_after(row), attempt(eng, row["key"]))
    raise RuntimeError(f"could not claim clone attempt {intent['key'][:12]}: too much contention")


def _after(row: dict[str, Any]) -> Literal["send", "reconcile"]:
    """What a taken-over row needs: "send" when no request of it can have reached the provider
    (a refusal; a hold before sending), "reconcile" when one may have."""
    nothing_sent = (row["status"] == "failed" and row.get("provider_voice_id") is None) or (
        row["status"] == "held" and row.get("hold") == Hold.NEW_LEDGER
    )
    return "send" if nothing_sent else "reconcile"


def attempt(eng: sa.Engine, key: str) -> dict[str, Any]:
    with eng.connect() as c:
        return dict(
            c.execute(sa.select(clone_attempts).where(clone_attempts.c.key == key)).one()._mapping
        )


def complete(eng: sa.Engine, key: str, voice: dict[str, Any], flow_run_id: str | None) -> None:
    """Record the provider voice and mark the attempt succeeded, in one transaction."""
    t = now()
    with eng.begin() as c:
        known = c.execute(
            sa.select(provider_voices.c.id).where(
                provider_voices.c.provider == voice["provider"],
                provider_voices.c.voice_id == voice["voice_id"],
            )
        ).first()
        if not known:
            c.execute(
                provider_voices.insert().values(
                    attempt_key=key, flow_run_id=flow_run_id, created_at=t, **voice
                )
            )
        c.execute(
            clone_attempts.update()
            .where(clone_attempts.c.key == key)
            .values(
                status="succeeded",
                hold=None,
                provider_voice_id=voice["voice_id"],
                flow_run_id=flow_run_id,
                error=None,
                updated_at=t,
            )
        )


def finish(
    eng: sa.Engine,
    key: str,
    status: Literal["failed", "held"],
    error: str,
    hold: Hold | None = None,
) -> None:
    """A request that did not succeed; a held one says why (`Hold`), which decides whether the
    next run looks again or waits for --force."""
    if status == "held" and hold is None:
        hold = Hold.UNKNOWN
    with eng.begin() as c:
        c.execute(
            clone_attempts.update()
            .where(clone_attempts.c.key == key)
            .values(
                status=status,
                error=error,
                hold=None if hold is None else Hold(hold).value,
                updated_at=now(),
            )
        )


def succeeded(
    eng: sa.Engine, voice: str, provider: str, base_url: str, take_hashes: list[str]
) -> list[dict[str, Any]]:
    """The succeeded attempts that sent exactly these takes of this voice (its inbox id) to this
    provider, latest first."""
    with eng.connect() as c:
        rows = c.execute(
            sa.select(clone_attempts)
            .where(
                clone_attempts.c.voice == voice,
                clone_attempts.c.provider == provider,
                clone_attempts.c.base_url == base_url.rstrip("/"),
                clone_attempts.c.status == "succeeded",
            )
            .order_by(clone_attempts.c.updated_at.desc())
        )
        return [dict(r._mapping) for r in rows if list(r.take_hashes) == list(take_hashes)]


def known_voice_ids(eng: sa.Engine, provider: str) -> set[str]:
    with eng.connect() as c:
        rows = c.execute(
            sa.select(provider_voices.c.voice_id).where(provider_voices.c.provider == provider)
        )
        return {r[0] for r in rows}
