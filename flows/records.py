"""Typed records for what crosses a package seam: a prepared clip, a take, a clone result, a run.

Small frozen dataclasses with their provenance (hashes of what they came from), in the spirit of
lhotse's manifests. Each has one `to_dict` (the JSON shape users and the ledger see) and one
`from_dict` that tolerates missing or unknown optional keys, so older ledger rows and newer
metrics fields both load.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from audio.types import Metrics, Step


class ClipStatus(StrEnum):
    """What became of one source clip; the value is what the JSON and the report say."""

    OK = "ok"
    ERROR = "error"  # the recording is unusable: its voice goes on without it
    CRASHED = "crashed"  # the pipeline failed on it (a worker died, a bug): its voice waits
    EXCLUDED = "excluded"  # another speaker: kept out of the takes, not failed


class CloneStatus(StrEnum):
    """What became of one voice on one provider; the value is what the JSON and the report say."""

    CREATED = "created"
    RECONCILED = "reconciled"  # an earlier request's voice, found on the provider
    EXISTS = "exists"  # the ledger has it
    WOULD_SEND = "would-send"  # a dry run
    SKIPPED = "skipped"  # the takes failed QC: nothing to send
    HELD = "held"  # not sent until someone looks (see the error)
    BUSY = "busy"  # another run is sending this request now
    FAILED = "failed"

    @property
    def settled(self) -> bool:
        """Needs nothing more from anyone."""
        return self in SETTLED

    @property
    def has_voice(self) -> bool:
        """A voice exists on the provider for it."""
        return self in (CloneStatus.CREATED, CloneStatus.RECONCILED, CloneStatus.EXISTS)


# A clone result that needs nothing more from anyone.
SETTLED = (
    CloneStatus.CREATED,
    CloneStatus.RECONCILED,
    CloneStatus.EXISTS,
    CloneStatus.WOULD_SEND,
    CloneStatus.SKIPPED,
)
# A clip that did not make it into the takes for a reason a user must see.
FAILED_CLIP = (ClipStatus.ERROR, ClipStatus.CRASHED)


def metrics_from_dict(d: dict[str, Any] | None) -> Metrics | None:
    """Metrics from a stored row: unknown keys dropped, missing ones None (older rows)."""
    if d is None:
        return None
    known = {f.name for f in dataclasses.fields(Metrics)}
    values = {k: v for k, v in d.items() if k in known}
    for f in dataclasses.fields(Metrics):
        if f.name not in values and f.default is dataclasses.MISSING:
            values[f.name] = None
    return Metrics(**values)


def _metrics_dict(m: Metrics | None) -> dict[str, Any] | None:
    return None if m is None else dataclasses.asdict(m)


def _step_from_dict(d: dict[str, Any]) -> Step:
    return Step(
        name=d["name"],
        params=dict(d.get("params") or {}),
        before=dict(d.get("before") or {}),
        after=dict(d.get("after") or {}),
    )


@dataclass(frozen=True)
class PreparedClip:
    """One source clip after the chain: where it came from, what was done, what it measures."""

    voice: str
    clip: str
    path: str
    status: ClipStatus = ClipStatus.OK
    error: str | None = None
    source_sha256: str | None = None
    prepared_sha256: str | None = None
    metrics: Metrics | None = None
    source_metrics: Metrics | None = None
    steps: tuple[Step, ...] = ()
    speech: tuple[tuple[float, float], ...] = ()
    reused: bool = False
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Who speaks in it, as the voice's check found: count, kept_s, removed_s, turns.
    speakers: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status is ClipStatus.OK

    def __post_init__(self) -> None:  # a status given as its string is the same status
        object.__setattr__(self, "status", ClipStatus(self.status))

    def to_dict(self) -> dict[str, Any]:
        return {
            "voice": self.voice,
            "clip": self.clip,
            "path": self.path,
            "status": self.status.value,
            "error": self.error,
            "source_sha256": self.source_sha256,
            "reused": self.reused,
            "prepared_sha256": self.prepared_sha256,
            "metrics": _metrics_dict(self.metrics),
            "source_metrics": _metrics_dict(self.source_metrics),
            "steps": [dataclasses.asdict(s) for s in self.steps],
            "speech": [list(s) for s in self.speech],
            "verdicts": self.verdicts,
            "speakers": self.speakers,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreparedClip:
        return cls(
            voice=d["voice"],
            clip=d["clip"],
            path=d["path"],
            status=ClipStatus(d.get("status", "ok")),
            error=d.get("error"),
            source_sha256=d.get("source_sha256"),
            prepared_sha256=d.get("prepared_sha256"),
            metrics=metrics_from_dict(d.get("metrics")),
            source_metrics=metrics_from_dict(d.get("source_metrics")),
            steps=tuple(_step_from_dict(s) for s in d.get("steps") or ()),
            speech=tuple((float(a), float(b)) for a, b in d.get("speech") or ()),
            reused=bool(d.get("reused", False)),
            verdicts=dict(d.get("verdicts") or {}),
            speakers=d.get("speakers"),
        )


@dataclass(frozen=True)
class TakePart:
    """Where in which prepared clip a stretch of a take came from."""

    prepared_sha256: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class StoredTake:
    """What one provider receives for one voice, stored content-addressed (its samples, while
    they are cut, are an `audio.takes.Take`)."""

    sha256: str
    format: str
    bytes: int
    duration_s: float
    metrics: Metrics
    parts: tuple[TakePart, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "format": self.format,
            "bytes": self.bytes,
            "duration_s": self.duration_s,
            "metrics": dataclasses.asdict(self.metrics),
            "parts": [dataclasses.asdict(p) for p in self.parts],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StoredTake:
        metrics = metrics_from_dict(d["metrics"])
        if metrics is None:
            raise ValueError(f"take {d['sha256']}: no metrics")
        return cls(
            sha256=d["sha256"],
            format=d.get("format", "wav"),
            bytes=int(d["bytes"]),
            duration_s=float(d.get("duration_s") or metrics.duration_s),
            metrics=metrics,
            parts=tuple(TakePart(**p) for p in d.get("parts") or ()),
        )

    def ref(self) -> TakeRef:
        return TakeRef(self.sha256, self.duration_s, self.bytes)


@dataclass(frozen=True)
class TakeRef:
    """A take as the result table shows it."""

    sha256: str
    duration_s: float
    bytes: int


@dataclass(frozen=True)
class CloneCheck:
    """Does the provider's preview of the new voice sound like the voice's speaker?

    verdict: "pass", "warn" (below the threshold: the clone is kept, the run goes on),
    "not-run" (no usable preview: a bad URL, a download or decode failure), "no-preview" (the
    provider returns no audio). `reason` says it in words, with the numbers."""

    verdict: str
    reason: str
    similarity: float | None = None  # CAM++ cosine of the preview's speech to the speaker
    ovrl: float | None = None  # DNSMOS OVRL of the preview
    threshold: float | None = None
    sha256: str | None = None  # of the preview's bytes as fetched (kept in the store)
    bytes: int | None = None
    duration_s: float | None = None
    source: str | None = None  # "preview_url" or "faseeh-preview"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> CloneCheck | None:
        if not d:
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class CloneResult:
    """One voice on one provider: what happened and why."""

    voice: str
    provider: str
    status: CloneStatus
    voice_id: str | None = None
    preview_url: str | None = None
    verdict: str | None = None
    reasons: tuple[str, ...] = ()
    error: str | None = None
    takes: tuple[TakeRef, ...] = ()
    request: dict[str, Any] | None = None  # a dry run shows what would be sent
    answered_from_ledger: bool = False
    clone_check: CloneCheck | None = None

    @property
    def settled(self) -> bool:
        return self.status.settled

    def __post_init__(self) -> None:  # a status given as its string is the same status
        object.__setattr__(self, "status", CloneStatus(self.status))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "voice": self.voice,
            "provider": self.provider,
            "status": self.status.value,
            "voice_id": self.voice_id,
            "preview_url": self.preview_url,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "error": self.error,
            "takes": [dataclasses.asdict(t) for t in self.takes],
            "clone_check": self.clone_check.to_dict() if self.clone_check else None,
        }
        if self.request is not None:
            out["request"] = self.request
        if self.answered_from_ledger:
            out["answered_from_ledger"] = True
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CloneResult:
        return cls(
            voice=d["voice"],
            provider=d["provider"],
            status=CloneStatus(d["status"]),
            voice_id=d.get("voice_id"),
            preview_url=d.get("preview_url"),
            verdict=d.get("verdict"),
            reasons=tuple(d.get("reasons") or ()),
            error=d.get("error"),
            takes=tuple(
                TakeRef(t["sha256"], float(t["duration_s"]), int(t["bytes"]))
                for t in d.get("takes") or ()
            ),
            request=d.get("request"),
            answered_from_ledger=bool(d.get("answered_from_ledger", False)),
            clone_check=CloneCheck.from_dict(d.get("clone_check")),
        )


@dataclass(frozen=True)
class RunSummary:
    """One flow run as people read it: every clip, every voice × provider, every refused input."""

    title: str
    flow_run_id: str
    started_at: str
    finished_at: str
    inbox: str
    providers: tuple[str, ...]
    dry_run: bool
    clips: tuple[PreparedClip, ...]
    results: tuple[CloneResult, ...]
    problems: tuple[dict[str, str], ...] = ()
    report: str | None = None
    changed: bool = True  # False when every voice × provider was answered from the ledger
    last_report: str | None = None

    @property
    def unsettled(self) -> list[CloneResult]:
        return [r for r in self.results if not r.settled]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "flow_run_id": self.flow_run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "inbox": self.inbox,
            "providers": list(self.providers),
            "dry_run": self.dry_run,
            "clips": [c.to_dict() for c in self.clips],
            "results": [r.to_dict() for r in self.results],
            "problems": [dict(p) for p in self.problems],
            "report": self.report,
            "changed": self.changed,
            "last_report": self.last_report,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        return cls(
            title=d["title"],
            flow_run_id=d["flow_run_id"],
            started_at=d["started_at"],
            finished_at=d["finished_at"],
            inbox=d["inbox"],
            providers=tuple(d["providers"]),
            dry_run=bool(d.get("dry_run", False)),
            clips=tuple(PreparedClip.from_dict(c) for c in d.get("clips") or ()),
            results=tuple(CloneResult.from_dict(r) for r in d.get("results") or ()),
            problems=tuple(dict(p) for p in d.get("problems") or ()),
            report=d.get("report"),
            changed=bool(d.get("changed", True)),
            last_report=d.get("last_report"),
        )
