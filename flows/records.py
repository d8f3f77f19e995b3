"""Typed records for what crosses a package seam: a prepared clip, a take, a clone result, a run.

Small frozen dataclasses with their provenance (hashes of what they came from), in the spirit of
lhotse's manifests. One generic conversion (`to_json`, `from_json`; `to_dict` and `from_dict` on
every record) gives the JSON shape users and the ledger see and reads it back, tolerating missing
or unknown keys, so older ledger rows and newer metrics fields both load.

What comes from `audio` stays the type `audio` made it (a Verdict, the Turns, a ClipSpeakers),
so a field added there travels without a copy here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from audio.speaker import ClipSpeakers
from audio.turns import Turns
from audio.types import Level, Metrics, SourceInfo, Step, Verdict

if TYPE_CHECKING:
    from flows.pipeline.inbox import Problem


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


class CheckVerdict(StrEnum):
    """What the clone check heard in a new voice's preview (see CloneCheck)."""

    PASS = "pass"
    WARN = "warn"  # below the threshold: the clone is kept, the run goes on
    NOT_RUN = "not-run"  # no usable preview: a bad URL, a download or decode failure
    NO_PREVIEW = "no-preview"  # the provider returns no audio


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


# The JSON shape of every record, both ways. A record's fields, in order, are its keys; a value is
# written as JSON (an enum as its string, a tuple as a list, a nested record as its dict) and read
# back by its annotation. Reading tolerates what older ledger rows and newer writers differ in:
# unknown keys are dropped, a missing key takes the field's default, and a missing measure of a
# `Metrics` is None. A field marked `OMIT_DEFAULT` is left out of the dict while at its default;
# one marked `UNSHOWN` is never in it (the ledger stores it on its own, and reading takes it when
# given); one with a `shape` is written by its own function (of the value and the record) and
# read by another.

OMIT_DEFAULT = {"omit_default": True}
UNSHOWN = {"unshown": True}
R = TypeVar("R")
_HINTS: dict[type, dict[str, Any]] = {}
_MISSING_IS_NONE: frozenset[type] = frozenset({Metrics})


def to_json(record: Any) -> dict[str, Any]:
    """The record as the dict users (`--json`) and the ledger see."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.metadata.get("unshown") or (f.metadata.get("omit_default") and value == f.default):
            continue
        shape = f.metadata.get("shape")
        out[f.name] = shape[0](value, record) if shape and value is not None else _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
    """A record from its dict (a ledger row, a worker's result, `--json` output)."""
    hints = _HINTS.get(cls) or _HINTS.setdefault(cls, typing.get_type_hints(cls))
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            shape, value = f.metadata.get("shape"), data[f.name]
            if shape and value is not None:
                values[f.name] = shape[1](value)
            else:
                values[f.name] = _from_value(hints[f.name], value)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if cls not in _MISSING_IS_NONE:
                raise KeyError(f"{cls.__name__}: no {f.name!r} in {sorted(data)}")
            values[f.name] = None
    return cls(**values)


def _from_value(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # `X | None`: the one type that is not None
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        if dataclasses.is_dataclass(inner) and not value and inner not in _MISSING_IS_NONE:
            return None  # an empty dict stored for "not checked"
        return _from_value(inner, value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_value(args[0], v) for v in value or ())
        return tuple(_from_value(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:  # dict[str, X]: each value read as an X
        return {k: _from_value(args[1], v) for k, v in (value or {}).items()}
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return from_json(hint, value)
        if issubclass(hint, Enum) or hint is bool:
            return hint(value)
    return value  # numbers and strings as they were written


class Record:
    """`to_dict` and `from_dict` for the records below, by the generic conversion."""

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return from_json(cls, d)


def metrics_from_dict(d: Mapping[str, Any] | None) -> Metrics | None:
    """Metrics from a stored row: unknown keys dropped, missing ones None (older rows)."""
    return None if d is None else from_json(Metrics, d)


def speakers_summary(check: ClipSpeakers, steps: Sequence[Step] = ()) -> str:
    """'3 speakers: kept 62.9 s; removed 17.5 s of 2 other speakers; cut a 6.1 s music outro':
    the check's turns and the clip's trim (`steps`), in flows.report.cuts' words."""
    from flows.report import cuts  # imports none of flows: no cycle

    turns = [to_json(t) for t in check.turns]
    return cuts.sentence(check.speakers, check.kept_s, turns, [to_json(s) for s in steps])


def _speakers_json(check: ClipSpeakers, clip: PreparedClip) -> dict[str, Any]:
    """The speaker check as `--json` and the report show it: its similarity, exclusion and
    reason are the clip's own `metrics.speaker_similarity`, `status` and `error` there."""
    return {
        "count": check.speakers,
        "others": check.others,  # of them, people other than the voice's speaker
        "kept_s": check.kept_s,
        "removed_s": check.removed_s,
        "summary": speakers_summary(check, clip.steps),
        "turns": [to_json(t) for t in check.turns],
    }


def _speakers_from_json(d: Mapping[str, Any]) -> ClipSpeakers:
    """The check back from `_speakers_json` (without what the clip's other fields hold)."""
    base = {"similarity": None, "excluded": False, "reason": None, "speakers": d.get("count", 0)}
    return from_json(ClipSpeakers, {**base, **d})


@dataclass(frozen=True)
class PreparedClip(Record):
    """One source clip after the chain: where it came from, what was done, what it measures."""

    voice: str
    clip: str
    path: str
    status: ClipStatus = ClipStatus.OK
    error: str | None = None
    source_sha256: str | None = None
    reused: bool = False  # answered from the ledger: this exact work was done before
    prepared_sha256: str | None = None
    metrics: Metrics | None = None
    source_metrics: Metrics | None = None
    steps: tuple[Step, ...] = ()
    speech: tuple[tuple[float, float], ...] = ()
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by provider
    # Who speaks in it, as the voice's speaker check judged each turn.
    speakers: ClipSpeakers | None = field(
        default=None, metadata={"shape": (_speakers_json, _speakers_from_json)}
    )
    # Who speaks when (audio.turns), for the voice's speaker check; shown as the `speakers` step.
    turns: Turns | None = field(default=None, metadata=UNSHOWN)
    source: SourceInfo | None = field(default=None, metadata=UNSHOWN)  # as probed; the ledger's

    @property
    def ok(self) -> bool:
        return self.status is ClipStatus.OK

    def __post_init__(self) -> None:  # a status given as its string is the same status
        object.__setattr__(self, "status", ClipStatus(self.status))


@dataclass(frozen=True)
class TakePart(Record):
    """Where in which prepared clip a stretch of a take came from."""

    prepared_sha256: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class StoredTake(Record):
    """What one provider receives for one voice, stored content-addressed (its samples, while
    they are cut, are an `audio.takes.Take`)."""

    sha256: str
    format: str
    bytes: int
    duration_s: float
    metrics: Metrics
    parts: tuple[TakePart, ...]

    def ref(self) -> TakeRef:
        return TakeRef(self.sha256, self.duration_s, self.bytes)


@dataclass(frozen=True)
class TakeRef(Record):
    """A take as the result table shows it."""

    sha256: str
    duration_s: float
    bytes: int


@dataclass(frozen=True)
class CloneCheck(Record):
    """Does the provider's preview of the new voice sound like the voice's speaker? The verdict
    (CheckVerdict) in one word, `reason` in words, with the numbers."""

    verdict: CheckVerdict
    reason: str
    similarity: float | None = None  # CAM++ cosine of the preview's speech to the speaker
    ovrl: float | None = None  # DNSMOS OVRL of the preview
    threshold: float | None = None
    sha256: str | None = None  # of the preview's bytes as fetched (kept in the store)
    bytes: int | None = None
    duration_s: float | None = None
    source: str | None = None  # "preview_url" or "faseeh-preview"

    def __post_init__(self) -> None:  # a verdict given as its string is the same verdict
        object.__setattr__(self, "verdict", CheckVerdict(self.verdict))


@dataclass(frozen=True)
class CloneResult(Record):
    """One voice on one provider: what happened and why."""

    voice: str
    provider: str
    status: CloneStatus
    voice_id: str | None = None
    preview_url: str | None = None
    verdict: Level | None = None  # of the takes' QC
    reasons: tuple[str, ...] = ()
    error: str | None = None
    # An existing voice whose name, description, language, gender or labels changed since it was
    # cloned: what changed, that the provider keeps the old ones, and how to clone again.
    note: str | None = field(default=None, metadata=OMIT_DEFAULT)
    takes: tuple[TakeRef, ...] = ()
    clone_check: CloneCheck | None = None
    request: dict[str, Any] | None = field(default=None, metadata=OMIT_DEFAULT)  # a dry run's
    answered_from_ledger: bool = field(default=False, metadata=OMIT_DEFAULT)

    @property
    def settled(self) -> bool:
        return self.status.settled

    def __post_init__(self) -> None:  # a status given as its string is the same status
        object.__setattr__(self, "status", CloneStatus(self.status))
        if self.verdict is not None:
            object.__setattr__(self, "verdict", Level(self.verdict))


@dataclass(frozen=True)
class RunSummary(Record):
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

    @classmethod
    def of(
        cls,
        run_id: str,
        started: datetime,
        inbox: str,
        providers: Sequence[str],
        dry_run: bool,
        clips: Sequence[PreparedClip],
        results: Sequence[CloneResult],
        problems: Sequence[Problem],
        *,
        changed: bool = True,
    ) -> RunSummary:
        """The summary of a run that started at `started` and ends now."""
        return cls(
            title=f"clone-voices · {Path(inbox).name} · {started:%Y-%m-%d %H:%M} UTC",
            flow_run_id=run_id,
            started_at=started.isoformat(timespec="seconds"),
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            inbox=inbox,
            providers=tuple(providers),
            dry_run=dry_run,
            clips=tuple(clips),
            results=tuple(results),
            problems=tuple({"path": p.path, "reason": p.reason} for p in problems),
            changed=changed,
        )

    @property
    def unsettled(self) -> list[CloneResult]:
        return [r for r in self.results if not r.settled]

    @property
    def failed(self) -> bool:
        """Anything a user must act on: a bad clip, a refused path, a failed or held request."""
        return bool(
            self.problems
            or any(c.status in FAILED_CLIP for c in self.clips)
            or any(r.status not in SETTLED for r in self.results)
        )

    def counts(self) -> dict[str, Any]:
        """The run in numbers, as the ledger keeps them."""
        return {
            "clips_ok": sum(c.status is ClipStatus.OK for c in self.clips),
            "clips_excluded": sum(c.status is ClipStatus.EXCLUDED for c in self.clips),
            "clips_failed": sum(c.status in FAILED_CLIP for c in self.clips),
            "problems": len(self.problems),
            "results": dict(Counter(r.status.value for r in self.results)),
            "changed": self.changed,
        }
