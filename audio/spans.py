"""Stretches of a recording as (start, end) seconds: the one piece of interval arithmetic that the
speaker turns and the takes share."""

from __future__ import annotations

from collections.abc import Sequence


def minus(
    span: tuple[float, float], cuts: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """`span` without the stretches in `cuts`."""
    pieces = [span]
    for a, b in cuts:
        nxt = []
        for s, e in pieces:
            if b <= s or a >= e:
                nxt.append((s, e))
                continue
            if a > s:
                nxt.append((s, a))
            if b < e:
                nxt.append((b, e))
        pieces = nxt
    return pieces
