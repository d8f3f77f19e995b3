"""The loudness meter against the standards themselves: BS.1770-4's published 48 kHz filter
coefficients, the EBU Tech 3341 minimum-requirement signals (integrated loudness, true peak) and
the EBU Tech 3342 loudness-range signals, all synthesised here at their documented levels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt, sosfilt_zi, sosfreqz

from audio import iir
from audio.loudness import integrated_loudness, k_weighting, loudness_range, true_peak

RATE = 48000
SURROUND = 1.41  # BS.1770 channel weight of Ls and Rs


def sine(dbfs: float, seconds: float, rate: int = RATE, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)


def stereo(*parts: tuple[float, float]) -> np.ndarray:
    """Both channels carry the same 1 kHz tone at each (dBFS, seconds), as in Tech 3341/3342."""
    mono = np.concatenate([sine(db, s) for db, s in parts])
    return np.stack([mono, mono], axis=1)


def test_k_weighting_at_48k_is_the_published_table():
    shelf, rlb = k_weighting(RATE)
    table1 = (1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0,
              -1.69065929318241, 0.73248077421585)  # fmt: skip
    table2 = (1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621)
    np.testing.assert_allclose(shelf, table1, atol=1e-8)
    np.testing.assert_allclose(rlb, table2, atol=1e-8)


@pytest.mark.parametrize(
    ("case", "parts", "expected"),
    [
        ("3341-1", [(-23, 20)], -23.0),
        ("3341-2", [(-33, 20)], -33.0),
        ("3341-3", [(-36, 10), (-23, 60), (-36, 10)], -23.0),
        ("3341-4", [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),
        ("3341-5", [(-26, 20), (-20, 20.1), (-26, 20)], -23.0),
    ],
)
def test_tech_3341_integrated_loudness(case, parts, expected):
    assert integrated_loudness(stereo(*parts), RATE) == pytest.approx(expected, abs=0.1)


def test_tech_3341_case_6_five_channels():
    # L, R at -28 dBFS, C at -24, Ls and Rs at -30 dBFS, surround weighted 1.41: -23 LUFS.
    channels = [sine(-28, 20), sine(-28, 20), sine(-24, 20), sine(-30, 20), sine(-30, 20)]
    x = np.stack(channels, axis=1)
    lufs = integrated_loudness(x, RATE, weights=(1.0, 1.0, 1.0, SURROUND, SURROUND))
    assert lufs == pytest.approx(-23.0, abs=0.1)


def test_white_noise_matches_the_standard_filter_response():
    """Stationary noise: loudness = -0.691 + 10 log10(sigma^2 * mean |K(f)|^2), the response
    taken from the published 48 kHz coefficients in the frequency domain (independent of the
    time-domain filter under test)."""
    rng = np.random.default_rng(7)
    sigma = 10 ** (-30 / 20)
    x = sigma * rng.standard_normal(30 * RATE)
    table = [[1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241,
              0.73248077421585], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]]  # fmt: skip
    _, response = sosfreqz(table, worN=1 << 16, fs=RATE)
    expected = -0.691 + 10 * np.log10(np.var(x) * np.mean(np.abs(response) ** 2))
    assert integrated_loudness(x.astype(np.float32), RATE) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize(
    ("case", "parts", "expected"),
    [
        ("3342-1", [(-20, 20), (-30, 20)], 10.0),
        ("3342-2", [(-20, 20), (-15, 20)], 5.0),
        ("3342-3", [(-40, 20), (-20, 20)], 20.0),
        ("3342-4", [(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
    ],
)
def test_tech_3342_loudness_range(case, parts, expected):
    mono = stereo(*parts)[:, 0]  # LRA is level-difference based: mono gives the same figure
    assert loudness_range(mono, RATE) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize(
    ("case", "amplitude", "phase_deg", "expected_dbtp"),
    [
        ("3341-15", 0.5, 0, -6.0),
        ("3341-16", 0.5, 45, -6.0),
        ("3341-17", 0.5, 60, -6.0),
        ("3341-18", 0.5, 67.5, -6.0),
        ("3341-19", 1.41, 45, 3.0),
    ],
)
def test_tech_3341_true_peak(case, amplitude, phase_deg, expected_dbtp):
    """A sine at fs/4 whose samples miss its crests; Tech 3341 allows -0.4/+0.2 dB."""
    n = RATE
    x = amplitude * np.sin(2 * np.pi * 0.25 * np.arange(n) + np.deg2rad(phase_deg))
    taper = np.hanning(2 * int(0.1 * RATE))
    x[: len(taper) // 2] *= taper[: len(taper) // 2]
    x[-(len(taper) // 2) :] *= taper[len(taper) // 2 :]
    tp = true_peak(x.astype(np.float32))
    assert expected_dbtp - 0.4 <= tp <= expected_dbtp + 0.2


@pytest.mark.parametrize("method", ["C loop", "numpy blocks"])
@pytest.mark.parametrize("n", [1, 1000, 1024, 70001])
def test_our_biquads_equal_scipy_sosfilt(n, method):
    """Both ways `iir` filters: scipy's C loop loaded on its own (a long signal), and numpy's
    block method; a steady state is the filter having seen its value forever."""
    compiled = method == "C loop"
    assert iir._c_loop() is not None  # found in the installed scipy
    assert iir.compiled(iir.COMPILED_MIN) and not iir.compiled(iir.COMPILED_MIN - 1)
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    ours = iir.butter_highpass(4, 70.0, 44100)
    reference = butter(4, 70.0, "highpass", fs=44100, output="sos")
    expected = sosfilt(reference, x.astype(np.float64))
    whole, _ = iir.sosfilt(ours, x.astype(np.float64), compiled=compiled)
    first, state = iir.sosfilt(ours, x[: n // 3].astype(np.float64), compiled=compiled)
    rest, _ = iir.sosfilt(ours, x[n // 3 :].astype(np.float64), state, compiled=compiled)
    np.testing.assert_allclose(whole, expected, atol=1e-9)
    np.testing.assert_allclose(np.concatenate([first, rest]), expected, atol=1e-9)
    dc = iir.steady_state(ours, 0.3, compiled)
    ours_dc, _ = iir.sosfilt(ours, np.full(n, 0.3), dc, compiled=compiled)
    settled, _ = sosfilt(reference, np.full(n, 0.3), zi=sosfilt_zi(reference) * 0.3)
    np.testing.assert_allclose(ours_dc, settled, atol=1e-9)
