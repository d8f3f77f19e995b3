"""Listing an account's voices: what the run's check before a create may take as its own."""

from __future__ import annotations

from typing import Any

import providers


class _OnePage:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.body


def test_elevenlabs_premade_voices_are_never_taken_for_a_clone() -> None:
    body = {
        "voices": [
            {"voice_id": "premade-1", "name": "Rachel", "category": "premade"},
            {"voice_id": "mine-1", "name": "Rachel", "category": "cloned"},
        ],
        "has_more": False,
    }
    module = providers.get("elevenlabs")
    assert [v.voice_id for v in module.list_voices(_OnePage(body))] == ["mine-1"]
    assert [v.voice_id for v in module.find_by_name(_OnePage(body), "Rachel")] == ["mine-1"]


def test_callers_cannot_list() -> None:
    assert providers.get("callers").list_voices(_OnePage({})) is None
