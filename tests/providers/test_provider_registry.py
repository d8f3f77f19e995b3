"""One table describes every provider; its client module, emulator and profile agree with it."""

from __future__ import annotations

from typing import get_args

import pytest
from provider_cases import request

import providers
from audio.profiles import DISPLAY_NAMES, PROFILES
from providers.emulator.server import ENV_NAMES
from providers.registry import ClientModule, ProviderName
from providers.types import InvalidRequest

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
    assert name == module.NAME and PROFILES[name].provider == name
    assert all(callable(getattr(module, call)) for call in CALLS)
    assert spec.key_env == f"{name.upper()}_API_KEY" and spec.create_path.startswith("/")
    if not spec.can_list:  # asked without a client: a provider that cannot list says so at once
        assert module.find_by_name(None, "anyone") is None


def test_an_unknown_name_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid names: anam, althea"):
        providers.get("openai")


@pytest.mark.parametrize("name", providers.NAMES)
def test_each_spec_says_what_preview_its_provider_hands_back(name: str, connect) -> None:
    heard: list[bytes] = []
    voice = providers.clone(connect(name), request(name), on_preview=heard.append)
    kind = providers.spec(name).preview
    assert bool(voice.preview_url) == (kind != "none")
    assert [h[:4] for h in heard] == ([b"RIFF"] if kind == "before-clone" else [])


@pytest.mark.parametrize("name", providers.NAMES)
def test_each_spec_holds_its_providers_name_limits_and_no_others(name: str) -> None:
    spec, module = providers.spec(name), providers.get(name)
    shortest, longest = spec.name_min or 1, spec.name_max or 200
    for size in (shortest, longest):
        module.validate(request(name, name="x" * size))
    for size in [spec.name_min - 1] if spec.name_min else []:
        with pytest.raises(InvalidRequest, match=f"at least {spec.name_min} characters"):
            module.validate(request(name, name="x" * size))
    for size in [spec.name_max + 1] if spec.name_max else []:
        with pytest.raises(InvalidRequest, match=f"at most {spec.name_max} characters"):
            module.validate(request(name, name="x" * size))
