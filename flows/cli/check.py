"""`voxclone check VOICE`: listen again to the previews of voices that already exist.

Fetches each provider's preview of the voice (by its inbox name or a provider voice id) and
compares it with the speaker of the takes that were sent: clones made before the clone check
existed get one, and a preview that could not be heard during the run can be tried again.
Every check is recorded in the ledger; the latest is what a rerun shows.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "voice", help="the voice's inbox name (its folder or slug) or a provider voice id"
    )
    parser.add_argument(
        "--providers", help="comma-separated; default: every provider it was cloned on"
    )
    parser.add_argument("--json", action="store_true")


def check_voice(eng: Any, row: dict[str, Any]) -> dict[str, Any]:
    """One provider voice: fetch its preview again through the provider's client, score it,
    record it. Never raises for a preview or a provider: that is a check that could not run."""
    from pathlib import Path

    import providers
    from flows import config, ledger
    from flows.ledger import store
    from flows.pipeline import clonecheck, secrets
    from providers.types import ProviderError

    provider, voice_id = row["provider"], row["voice_id"]
    attempt = ledger.voice_attempt(eng, provider, voice_id) or {}
    root = config.store_dir()
    if not row.get("preview_url"):
        check = clonecheck.no_preview(provider)
    else:
        try:
            takes = [store.get(sha, "wav", root) for sha in attempt.get("take_hashes") or []]
            speaker = clonecheck.speaker_of(None, takes) if takes else None
        except OSError as e:
            speaker, why = None, f"the takes sent are not in the store ({e.strerror})"
        else:
            why = "the ledger has no takes for this voice"
        if speaker is None:
            check = clonecheck.not_run(why)
        else:
            base_url = attempt.get("base_url") or providers.base_url_of(provider)
            try:
                key = secrets.api_key(provider) or ""
                with providers.connect(
                    provider, key=key, base_url=base_url, **config.http_settings()
                ) as client:
                    check = clonecheck.check_url(client, row["preview_url"], speaker, Path(root))
            except ProviderError as e:
                check = clonecheck.not_run(str(e))
    ledger.record_clone_check(eng, provider, row["voice"], voice_id, check.to_dict(), None)
    return {
        "voice": row["voice"],
        "provider": provider,
        "voice_id": voice_id,
        "clone_check": check.to_dict(),
    }


def _names(row: dict[str, Any], asked: str) -> bool:
    """Whether `asked` names this voice: its inbox name, its display name ("Mara Host", any
    case) or the provider's voice id."""
    return (
        asked in (row["voice"], row["voice_id"]) or asked.casefold() == str(row["name"]).casefold()
    )


def _not_found(asked: str, known: list[dict[str, Any]], where: str) -> str:
    """'no cloned voice 'host' in the ledger (…); did you mean 'mara-host' (“Mara Host”)?'"""
    import difflib

    names = {r["voice"]: r["name"] for r in known}
    words = {**{v: v for v in names}, **{str(n).casefold(): v for v, n in names.items()}}
    close = difflib.get_close_matches(asked.casefold(), list(words), n=3, cutoff=0.4)
    close += [
        v
        for v in names
        if asked.casefold() in v.casefold() or asked.casefold() in str(names[v]).casefold()
    ]
    found = list(dict.fromkeys(words.get(c, c) for c in close))
    text = f"no cloned voice {asked!r} in the ledger ({where})"
    if found:
        text += "; did you mean " + " or ".join(f"{v!r} (“{names[v]}”)" for v in found[:3]) + "?"
    elif names:
        text += "; the ledger has " + ", ".join(sorted(names)) + " (`voxclone voices` lists them)"
    return text


def run(args: argparse.Namespace) -> int:
    from flows import ledger
    from flows.records import CloneCheck
    from flows.report import summary, tables

    eng = ledger.engine()
    wanted = {p.strip() for p in (args.providers or "").split(",") if p.strip()}
    known = ledger.voices(eng)
    rows = [r for r in known if _names(r, args.voice) and (not wanted or r["provider"] in wanted)]
    if not rows:
        print(
            f"voxclone check: {_not_found(args.voice, known, ledger.where(eng))}", file=sys.stderr
        )
        return 1
    results = [check_voice(eng, r) for r in rows]
    if args.json:
        print(json.dumps(results, indent=2))
        return _attention(results)
    import providers

    # the verdict before the id: at 80 columns the last column is the one left out
    tables.print_table(
        [
            {"voice": r["voice"], "provider": providers.spec(r["provider"]).display_name,
             **summary.check_cells(CloneCheck.from_dict(r["clone_check"])), "voice id": r["voice_id"]}
            for r in results
        ],
        "Clone checks",
        below=("why",),
        key=("voice", "provider"),
    )  # fmt: skip
    return _attention(results)


def _attention(results: list[dict[str, Any]]) -> int:
    """1 when any clone may not sound like the speaker (warn) or could not be checked (not-run),
    as `prepare` exits 1 when an input fails; a provider that returns no audio is not counted."""
    from flows.records import CheckVerdict

    needs = {
        CheckVerdict.WARN.value: "may not be the speaker",
        CheckVerdict.NOT_RUN.value: "could not be checked",
    }
    flagged = [
        f"{r['provider']}/{r['voice']} {needs[r['clone_check']['verdict']]}"
        for r in results
        if r["clone_check"]["verdict"] in needs
    ]
    if not flagged:
        return 0
    print(
        f"voxclone check: {len(flagged)} of {len(results)} clones need a listen: "
        + "; ".join(flagged),
        file=sys.stderr,
    )
    return 1
