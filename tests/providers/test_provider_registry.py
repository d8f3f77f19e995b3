"""One table describes every provider; its client module, emulator and profile agree with it."""

from __future__ import annotations

from typing import get_args

import pytest

import providers
from audio.profiles import DISPLAY_NAMES, PROFILES
from providers.emulator.server import ENV_NAMES
from providers.registry import ClientModule, ProviderName

CALLS = ("headers", "validate", "clone", "find_by_name", "list_voices", "delete")


def test_the_literal_the_table_the_profiles_and_the_emulator_name_the_same_providers() -> None:
    names = providers.NAMES
    assert names == get_args(ProviderName) == tuple(providers.SPECS)
    assert set(PROFILES) == set(DISPLAY_NAMES) == set(ENV_NAMES) == set(names)
    assert all(ENV_NAMES[n] == providers.spec(n).base_url_env for n in names)


@pytest.mark.parametrize("name", providers.NAMES)
def test_each_client_module_is_the_protocol_for_its_spec(name: str) -> None:
    spec = providers.spec(name)
    module: ClientModule = providers.get(name)
    assert name == module.NAME and spec.profile is PROFILES[name]
    assert all(callable(getattr(module, call)) for call in CALLS)
    assert spec.key_env == f"{name.upper()}_API_KEY" and spec.create_path.startswith("/")
    if not spec.can_list:  # asked without a client: a provider that cannot list says so at once
        assert module.find_by_name(None, "anyone") is None


def test_an_unknown_name_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid names: anam, althea"):
        providers.get("openai")
