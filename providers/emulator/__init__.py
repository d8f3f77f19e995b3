"""A local emulator of the six provider APIs, with fault injection. See app.py and server.py."""

from __future__ import annotations

from .control import clear_faults, inject, reset, state

__all__ = ["clear_faults", "inject", "reset", "state"]
