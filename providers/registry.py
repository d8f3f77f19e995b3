"""Every provider in one table: what the rest of the code, the tests and the benchmarks may know
about it without importing its client. Adding a provider is its client module, its emulator, its
profile (audio.profiles) and one line here.

Import-free (no httpx, no numpy, nothing of audio/) so `audio.profiles` and the CLI can read it for
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    from .http import Client
    from .types import ClonedVoice, CloneRequest

ProviderName = Literal["anam", "althea", "faseeh", "callers", "elevenlabs", "cartesia"]
# What audio of the new voice a provider hands back, for the clone check to hear: none, a preview
# URL with the created voice, or a preview made before the clone (Faseeh previews, then clones the
# preview; `providers.clone` hands it to `on_preview`, which can stop the clone; the voice it makes
# has a sample URL too).
Preview = Literal["none", "url", "before-clone"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as everything outside its client module sees it."""

    name: ProviderName
    display_name: str
    default_base_url: str
    create_path: str  # the create call (after the base URL), POSTed once per voice
    can_list: bool  # whether a lost create can be settled by looking the voice up by name
    # Statuses besides 429 the provider documents as "not acted on", so a create answered with one
    # may be sent again at once. None of the six documents one (shared/providers/REFERENCE.md:
    # Faseeh lists 500 among its codes, Anam's spec 500, the others no 5xx at all): every 5xx
    # after a create left is an unknown outcome, settled by the voice list.
    not_processed: tuple[int, ...] = ()
    preview: Preview = "none"
    # Documented bounds on a voice's name, in characters (None: none documented); the client
    # module's `validate` refuses a name outside them before anything is sent.
    name_min: int | None = None
    name_max: int | None = None

    @property
    def key_env(self) -> str:
        return f"{self.name.upper()}_API_KEY"

    @property
    def base_url_env(self) -> str:
        return f"{self.name.upper()}_BASE_URL"


SPECS: dict[ProviderName, ProviderSpec] = {
    s.name: s
    for s in (
        ProviderSpec("anam", "Anam", "https://api.anam.ai", "/v1/voices", True, preview="url"),
        ProviderSpec(
            "althea",
            "Althea Studio",
            "https://app.altheastudio.ai/api",
            "/voices",
            True,
            preview="url",
            name_max=40,
        ),
        ProviderSpec(
            "faseeh",
            "Faseeh",
            "https://api.faseeh.ai/api/v1",
            "/voices/clone",
            True,
            preview="before-clone",
        ),
        ProviderSpec(
            "callers",
            "Callers.ai",
            "https://api.callers.ai",
            "/voices/voice-clone",
            False,
            name_min=5,
        ),
        ProviderSpec(
            "elevenlabs",
            "ElevenLabs",
            "https://api.elevenlabs.io",
            "/v1/voices/add",
            True,
            preview="url",
        ),
        ProviderSpec("cartesia", "Cartesia", "https://api.cartesia.ai", "/voices/clone", True),
    )
}
NAMES: tuple[ProviderName, ...] = get_args(ProviderName)
DISPLAY_NAMES: dict[str, str] = {s.name: s.display_name for s in SPECS.values()}
_BY_NAME: dict[str, ProviderSpec] = {name: s for name, s in SPECS.items()}


def spec(name: str) -> ProviderSpec:
    """The provider's spec; a ValueError naming the valid ones for any other name."""
    found = _BY_NAME.get(name)
    if found is None:
        raise ValueError(f"unknown provider {name!r}; valid names: {', '.join(NAMES)}")
    return found


class ClientModule(Protocol):
    """What `providers.get(name)` returns: a provider's client module (providers/<name>.py)."""

    NAME: str
    # Documented options that describe a voice rather than shape it (labels, locales, language):
    # the provider keeps what it was sent, and a change to them alone makes no new voice from the
    # same takes. With the request's name, description, language and gender, these are what
    # voxclone reports as "changed since it was cloned" instead of cloning again.
    METADATA: tuple[str, ...]

    def headers(self, key: str) -> dict[str, str]: ...

    def validate(self, req: CloneRequest) -> None: ...

    clone: Callable[..., ClonedVoice]  # (client, req[, on_preview=...]) -> the new voice

    def find_by_name(self, client: Client, name: str) -> list[ClonedVoice] | None:
        """The voices by this name; None when the provider documents no way to list them."""
        ...

    def list_voices(self, client: Client, search: str = "") -> list[ClonedVoice] | None: ...

    def delete(self, client: Client, voice_id: str) -> None: ...


def _check_table() -> None:
    """The table and the Literal name the same providers, in the same order."""
    if tuple(SPECS) != NAMES:
        raise RuntimeError(f"providers.registry: SPECS {tuple(SPECS)} != ProviderName {NAMES}")


_check_table()
