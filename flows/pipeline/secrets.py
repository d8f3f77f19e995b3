"""API keys: from the environment, else from a Prefect Secret block of the same name in kebab case.

Keys are fetched inside the task that uses them and never pass through parameters or results.
"""

from __future__ import annotations

import os
from typing import Any

import providers


def api_key(provider: str) -> str | None:
    env = providers.spec(provider).key_env
    if os.environ.get(env):
        return os.environ[env]
    try:
        from prefect.blocks.system import Secret

        secret: Any = Secret.load(env.lower().replace("_", "-"))  # sync here: no event loop
        return str(secret.get())
    except Exception:  # no block, no server: the caller reports the missing key
        return None
