"""Probe and decode any recording to mono float32, refusing what we cannot use with a clear reason.

soundfile (libsndfile) handles wav/flac/ogg/mp3 directly and fast; everything else (m4a/aac, opus,
webm, mp4, or a file soundfile refuses) goes through the imageio-ffmpeg binary piped to f32le.
Memory: samples are read as float32 in blocks and downmixed per block, so a stereo file never
exists in memory as a whole. A long file soundfile can seek in is read in a few pieces at once on
every core, straight into memory the chain's later steps also write into from every core.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from audio.types import Audio, AudioError, SourceInfo

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
DEFAULT_MAX_DURATION_S = 2 * 3600.0
SOUNDFILE_FORMATS = {"WAV", "WAVEX", "FLAC", "OGG", "MP3", "MPEG", "AIFF", "W64", "RF64", "CAF"}
_BLOCK = 1 << 18


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_probe(path: Path, size: int) -> SourceInfo:
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    err = proc.stderr
    stream = re.search(r"Stream #\S+.*?: Audio: ([^,\n]+)(?:[^\n]*?), (\d+) Hz, ([^,\n]+)", err)
    if not stream:
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        detail = lines[-1] if lines else "no output"
        if "Invalid data" in err or "could not find codec" in err or "Stream #" not in err:
            detail = "not an audio file"
        elif "Stream #" in err:
            detail = "the file has no audio stream"
        raise AudioError(str(path), f"cannot read as audio ({detail})")
    layout = stream.group(3).strip()
    channels = {"mono": 1, "stereo": 2}.get(layout)
    if channels is None:
        m = re.match(r"(\d+) channels", layout)
        channels = int(m.group(1)) if m else (6 if layout.startswith("5.1") else 2)
    duration = -1.0
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", err)
    if m:
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    container = re.search(r"Input #0, ([^,\s]+)", err)
    fmt = container.group(1) if container else path.suffix.lstrip(".").lower()
    return SourceInfo(str(path), fmt, int(stream.group(2)), channels, duration, size)


def probe(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> SourceInfo:
    """Check a file is audio we can decode and within the caps, without decoding it."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioError(str(p), "file not found")
    size = p.stat().st_size
    if size == 0:
        raise AudioError(str(p), "empty file (0 bytes)")
    if size > max_bytes:
        raise AudioError(
            str(p), f"file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB"
        )
    try:
        info = sf.info(str(p))
        if info.format not in SOUNDFILE_FORMATS:
            raise RuntimeError("unusual container, let ffmpeg decide")
        si = SourceInfo(
            str(p), info.format.lower(), info.samplerate, info.channels, info.duration, size
        )
    except Exception:
        si = _ffmpeg_probe(p, size)
    if si.duration > max_duration_s:
        raise AudioError(
            str(p),
            f"recording is {si.duration / 60:.1f} min; the limit is {max_duration_s / 60:.1f} min",
        )
    if si.rate <= 0 or si.channels <= 0:
        raise AudioError(str(p), "no audio stream found")
    return si


def _read_soundfile(path: Path, info: SourceInfo) -> np.ndarray:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        frames = f.frames if f.frames > 0 and f.seekable() else 0
    pieces = _pieces(frames, info.rate)
    if len(pieces) < 2:
        return _read_blocks(path, info)
    from audio import cores

    out = cores.shared_empty(frames)
    read = list(cores.map_chunks(_read_piece, pieces, (str(path), out)))
    pos = 0
    for (start, stop), (count, _) in zip(pieces, read, strict=True):
        pos = start + count
        if pos < stop:  # cut short (a truncated file): where reading in blocks stops too
            break
    extra = read[-1][1]
    if pos == frames and extra is not None and len(extra):  # the header undercounted
        out = np.concatenate([out, extra])
        pos = len(out)
    if pos < frames * 0.98 - 1:
        raise RuntimeError(f"only {pos} of {frames} frames could be read")
    return out[:pos]


DECODE_PIECES = 4  # a long file is decoded in this many pieces at once, on every core
PIECE_MIN_S = 120.0  # ... each at least this long: shorter files are read in one go


def _pieces(frames: int, rate: int) -> list[tuple[int, int]]:
    """Fixed by the length, not by the cores: the same samples on any machine. Few pieces,
    because seeking in an mp3 reads the frame headers up to there (0.15 s of CPU to reach the
    55th minute)."""
    count = min(DECODE_PIECES, int(frames // (PIECE_MIN_S * rate)))
    bounds = [round(k * frames / count) for k in range(count + 1)] if count else [0]
    return list(itertools.pairwise(bounds))


def _read_piece(piece: tuple[int, int]) -> tuple[int, np.ndarray | None]:
    """Frames [start, stop) of the shared (path, out) into `out`, in a forked worker: how many
    were read and, for the last piece, whatever the file holds beyond `out`."""
    import soundfile as sf

    from audio import cores

    path, out = cores.shared()
    start, stop = piece
    extra = None
    with sf.SoundFile(path) as f:
        f.seek(start)  # decoders seek exactly (mpg123 decodes the frames before again)
        pos = start
        while pos < stop:
            want = min(_BLOCK, stop - pos)
            if f.channels == 1:  # decoded straight into place: no block to allocate and copy
                count = len(f.read(want, out=out[pos : pos + want]))
            else:
                mono = _mono(f.read(want, dtype="float32", always_2d=True))
                count = len(mono)
                out[pos : pos + count] = mono
            if count == 0:
                break
            pos += count
        if stop == len(out) and pos == stop:
            extra = _read_rest(f)
    return pos - start, extra


def _mono(block: np.ndarray) -> np.ndarray:
    return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)


def _read_rest(f: Any) -> np.ndarray:
    blocks = []
    while len(block := f.read(_BLOCK, dtype="float32", always_2d=True)):
        blocks.append(_mono(block))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def _read_blocks(path: Path, info: SourceInfo) -> np.ndarray:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        frames = f.frames if f.frames > 0 else int(info.duration * info.rate) + 1
        out = np.empty(frames, dtype=np.float32)
        pos = 0
        while True:
            mono = _mono(f.read(_BLOCK, dtype="float32", always_2d=True))
            if len(mono) == 0:
                break
            if pos + len(mono) > len(out):
                out = np.resize(out, max(len(out) * 2, pos + len(mono)))
            out[pos : pos + len(mono)] = mono
            pos += len(mono)
    if f.frames > 0 and pos < f.frames * 0.98 - 1:
        raise RuntimeError(f"only {pos} of {f.frames} frames could be read")
    return out[:pos]


def _read_ffmpeg(path: Path, info: SourceInfo) -> np.ndarray:
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
        "-vn", "-ac", "1", "-ar", str(info.rate), "-f", "f32le", "-acodec", "pcm_f32le", "-",
    ]  # fmt: skip
    guess = int(max(info.duration, 1.0) * info.rate * 1.02) + info.rate
    out = np.empty(guess, dtype=np.float32)
    pos = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        pending = b""
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            chunk = pending + chunk
            usable = len(chunk) // 4 * 4
            pending = chunk[usable:]
            values = np.frombuffer(chunk[:usable], dtype="<f4")
            if pos + len(values) > len(out):
                out = np.resize(out, max(len(out) * 2, pos + len(values)))
            out[pos : pos + len(values)] = values
            pos += len(values)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait()
    if code != 0 and pos == 0:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"ffmpeg exit status {code}")
    return out[:pos]


def _check_finite(path: Path, x: np.ndarray) -> None:
    for start in range(0, len(x), _BLOCK * 4):
        if not np.isfinite(x[start : start + _BLOCK * 4]).all():
            raise AudioError(str(path), "contains NaN or infinite samples (corrupt float audio)")


TRUNCATED_S = 1.0  # decoded this much shorter than the header says: the file was cut short


def decode(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> tuple[Audio, SourceInfo]:
    """Decode to mono float32 at the file's own rate; AudioError(path, reason) when unusable."""
    p = Path(path)
    info = probe(p, max_bytes=max_bytes, max_duration_s=max_duration_s)
    samples = None
    errors = []
    if info.format.upper() in SOUNDFILE_FORMATS:
        try:
            samples = _read_soundfile(p, info)
        except Exception as exc:  # truncated or odd streams: let ffmpeg try before giving up
            errors.append(str(exc))
    if samples is None:
        try:
            samples = _read_ffmpeg(p, info)
        except Exception as exc:
            errors.append(str(exc))
            reason = "corrupt or truncated audio"
            raise AudioError(str(p), f"{reason} ({'; '.join(errors)})") from None
    if len(samples) == 0:
        raise AudioError(str(p), "no audio samples in the file")
    duration = len(samples) / info.rate
    if info.duration - duration > TRUNCATED_S:
        raise AudioError(
            str(p),
            f"truncated: {duration:.1f} s decoded of the {info.duration:.1f} s its header "
            "declares (an interrupted copy or download?); export or copy it again",
        )
    if errors and len(samples) < info.duration * info.rate * 0.98 - 1:
        raise AudioError(str(p), f"corrupt or truncated audio ({errors[0]})")
    _check_finite(p, samples)
    if duration > max_duration_s:
        raise AudioError(
            str(p),
            f"recording is {duration / 60:.1f} min; the limit is {max_duration_s / 60:.1f} min",
        )
    info = SourceInfo(info.path, info.format, info.rate, info.channels, duration, info.bytes)
    return Audio(samples, info.rate, str(p)), info
