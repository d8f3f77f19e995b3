"""Command-line options derived from a pydantic model's fields, so the CLI cannot drift from it.

Default, choices, help text and limits all come from the field: a `Literal` becomes argparse
`choices` (argparse lists them when refusing a value), a `bool` that defaults to False a switch, `ge`/`le` bounds are checked while parsing,
and the help shows the field's description and its default. Nothing is written twice.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def add_model_options(
    parser: argparse.ArgumentParser, model: type[BaseModel], flags: dict[str, str]
) -> None:
    """One `--flag` per `flags[flag] = field name`; the value lands where argparse puts it
    (`--rate` in `args.rate`), and `model_values` maps it back to the field."""
    for flag, name in flags.items():
        field = model.model_fields[name]
        default = None if field.is_required() or field.default_factory else field.default
        kwargs: dict[str, Any] = {"default": default, "help": _help(field, default)}
        choices = _choices(field)
        if field.annotation is bool and default is False:
            kwargs.update(action="store_true")
        elif choices:
            kwargs.update(choices=choices, type=type(choices[0]))
        else:
            kwargs.update(type=_bounded(field), metavar=name.upper())
        parser.add_argument(flag, **kwargs)


def model_values(args: argparse.Namespace, flags: dict[str, str]) -> dict[str, Any]:
    """The values the user gave (or the model's defaults); unset factory defaults stay unset, and
    flags this command does not have are skipped."""
    values = {name: getattr(args, _dest(flag), None) for flag, name in flags.items()}
    return {name: value for name, value in values.items() if value is not None}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _choices(field: FieldInfo) -> list[Any] | None:
    if typing.get_origin(field.annotation) is typing.Literal:
        return list(typing.get_args(field.annotation))
    return None


def _bounds(field: FieldInfo) -> tuple[Any, Any]:
    low = high = None
    for item in field.metadata:  # pydantic keeps Field(ge=, le=) as annotated-types Ge / Le
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _bounded(field: FieldInfo) -> Any:
    """A converter for argparse: the field's type, refused outside its `ge`/`le` bounds."""
    cast = field.annotation if field.annotation in (int, float) else str
    low, high = _bounds(field)

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {cast.__name__}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is outside {_range(low, high)}")
        return value

    parse.__name__ = cast.__name__  # argparse names the type in its own messages
    return parse


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _help(field: FieldInfo, default: Any) -> str:
    """'Integrated loudness target of each clip, in LUFS (-40 to -10; default -20).'"""
    low, high = _bounds(field)
    notes = [_range(low, high)] if low is not None or high is not None else []
    text = (field.description or "").strip().rstrip(".")
    if default is None:
        notes += [] if "default" in text else ["default: automatic"]
    elif default is not False:  # a switch needs no "default: False"
        notes.append(f"default {default:g}" if isinstance(default, float) else f"default {default}")
    if notes:
        text += f" ({'; '.join(notes)})" if text else "; ".join(notes)
    return (text + "." if text else "").replace("%", "%%")  # argparse formats help with %
