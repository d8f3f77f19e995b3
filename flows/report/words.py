"""Numbers and processing steps as text a person reads: units, signs, no Python literals.

Shared by the HTML report and `voxclone lineage`; plain functions over the JSON shapes the
records carry (a step is {"name", "params", "before", "after"})."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import numpy as np

EM_DASH = "—"


def is_number(value: object) -> TypeGuard[int | float | np.integer | np.floating]:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def num(value: object, decimals: int = 2, scale: float = 1.0, sign: bool = False) -> str:
    """Plain text for a number; None and NaN are an em dash, infinities are ±inf."""
    if value is None:
        return EM_DASH
    if not is_number(value):
        return str(value)
    x = float(value) * scale
    if math.isnan(x):
        return EM_DASH
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    if decimals == 0 and not sign:
        return str(round(x))
    return f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"


# Step keys carry their unit as a suffix (gain_db, true_peak_dbtp, ...): label, unit, scale.
_SUFFIXES: tuple[tuple[str, str, float], ...] = (
    ("_dbtp", "dBTP", 1.0),
    ("_lufs", "LUFS", 1.0),
    ("_lu", "LU", 1.0),
    ("_db", "dB", 1.0),
    ("_khz", "kHz", 1.0),
    ("_hz", "Hz", 1.0),
    ("_ms", "ms", 1.0),
    ("_s", "s", 1.0),
    ("_ratio", "%", 100.0),
)


def step_value(key: str, value: object) -> tuple[str, str]:
    """(label, text) for one step number: "gain_db", 3.2 -> ("gain", "+3.2 dB")."""
    label, unit, scale = key, "", 1.0
    bare = {"lufs": ("loudness", "LUFS"), "dbtp": ("peak", "dBTP"), "db": ("level", "dB")}
    if key in bare:
        label, unit = bare[key]
    else:
        for suffix, suffix_unit, suffix_scale in _SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                label, unit, scale = key[: -len(suffix)], suffix_unit, suffix_scale
                break
    label = label.replace("_", " ")
    if not is_number(value) or isinstance(value, bool):
        return label, plain(value)
    sign = "gain" in key and unit == "dB"
    decimals = 0 if isinstance(value, int | np.integer) and scale == 1.0 else 1 if unit else 2
    if unit in ("s", "ms"):
        decimals = 2
    text = num(value, decimals, scale, sign=sign)
    return label, f"{text} {unit}" if unit and text != EM_DASH else text


def plain(value: object) -> str:
    """Compact text for parameter values of any JSON-ish shape, never a Python literal."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return num(value, 3).rstrip("0").rstrip(".") if math.isfinite(value) else num(value)
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, list | tuple) and len(v) == 2 for v in value):
            return ", ".join(f"{plain(a)}–{plain(b)}" for a, b in value)  # ranges
        return "; ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{str(k).replace('_', ' ')} {plain(v)}" for k, v in value.items())
    return EM_DASH if value is None else str(value)


def step_text(step: dict[str, Any]) -> tuple[str, str]:
    """(measurements, params) of one step: `lufs -23.1 → -20.0 LUFS, gain +3.1 dB`, `target_lufs=-20`.
    The trim says what it cut in words (`cuts.trim_words`), music never counted as pauses."""
    params = step.get("params") or {}
    param_text = ", ".join(f"{k}={plain(v)}" for k, v in params.items())
    if step.get("name") == "trim" and step.get("words"):
        return str(step["words"]), param_text
    before = step.get("before") or {}
    after = step.get("after") or {}
    parts = []
    for key, value in after.items():
        label, text = step_value(str(key), value)
        if key in before:
            _, was = step_value(str(key), before[key])
            parts.append(f"{label} {was} → {text}")
        else:
            parts.append(f"{label} {text}")
    for key, value in before.items():
        if key not in after:
            label, text = step_value(str(key), value)
            parts.append(f"{label} {text} (before)")
    return ", ".join(parts) or "no measurements", param_text
