"""The output limiter run over the spans near the ceiling (mix.limiter) against one limiter over the whole."""

from __future__ import annotations

import numpy as np
import pedalboard

from tuss_fx.mix.limiter import PEAK_HOP_SECONDS, PeakMap, SpanLimiter

RATE = 48000
CEILING_DB = -1.0


def _programme() -> np.ndarray:
    """(2, 20 s): noise at about -30 dBFS, with bursts over the ceiling at 3 s and 3.6 s and at 14 s."""
    rng = np.random.default_rng(3)
    audio = (0.03 * rng.standard_normal((2, 20 * RATE))).astype(np.float32)
    for at in (3.0, 3.6, 14.0):
        start = int(at * RATE)
        audio[:, start:start + 2400] *= 40
    return audio


def _streamed(stream, audio: np.ndarray, sizes=(997, 4096, 13, 30000)) -> np.ndarray:
    parts, done, turn = [], 0, 0
    while done < audio.shape[1]:
        size = sizes[turn % len(sizes)]
        parts.append(stream.push(audio[:, done:done + size]))
        done, turn = done + size, turn + 1
    parts.append(stream.finish())
    return np.concatenate(parts, axis=1)


def test_peak_map_keeps_each_hop_s_sample_peak_however_the_stream_is_cut():
    audio = _programme()
    peaks = PeakMap(RATE)
    parts, done = [611, 4800, 7, 100000], 0
    while done < audio.shape[1] - 1000:  # ends inside a hop: the last one partial
        size = parts[done % 4]
        peaks.push(audio[:, done:done + size])
        done += size
    done = min(done, audio.shape[1] - 1000)
    hop = round(PEAK_HOP_SECONDS * RATE)
    magnitude = np.abs(audio[:, :done]).max(axis=0)
    expected = [magnitude[start:start + hop].max() for start in range(0, done, hop)]
    np.testing.assert_array_equal(peaks.peaks, np.array(expected, np.float32))


def test_limiting_the_spans_near_the_ceiling_is_one_limiter_over_the_whole_where_it_acts_and_the_input_elsewhere():
    audio = _programme()
    ceiling = 10 ** (CEILING_DB / 20)
    peaks = PeakMap(RATE)
    peaks.push(audio)
    spans = peaks.spans(1.0, ceiling, RATE, audio.shape[1])
    assert len(spans) == 2 and spans[0][0] < 3 * RATE < 3.7 * RATE < spans[0][1] < 14 * RATE  # 3 s and 3.6 s merged
    limited = _streamed(SpanLimiter(CEILING_DB, spans, RATE, 2), audio)
    whole = pedalboard.Pedalboard([pedalboard.BrickwallLimiter(ceiling_db=CEILING_DB, true_peak=True)])(audio, RATE)
    assert limited.shape == audio.shape
    inside = np.zeros(audio.shape[1], bool)
    for start, end in spans:
        inside[start:end] = True
    np.testing.assert_array_equal(limited[:, ~inside], audio[:, ~inside])
    # where the whole-programme limiter acts, the spans' limiters do the same; where it has let go, its
    # gain stalls just under 1 (1.4e-4 under it in pedalboard 0.9), which a span's limiter leaves at its end
    acting = np.abs(whole - audio).max(axis=0) > 1e-3 * np.abs(audio).max(axis=0)
    assert acting.any() and inside[acting].all()
    np.testing.assert_allclose(limited, whole, rtol=0, atol=3e-4 * np.abs(audio).max())
    assert np.abs(limited).max() < ceiling * 1.01 < np.abs(audio).max()


def test_nothing_near_the_ceiling_is_nothing_limited():
    audio = (0.01 * np.random.default_rng(0).standard_normal((2, 5 * RATE))).astype(np.float32)
    peaks = PeakMap(RATE)
    peaks.push(audio)
    assert peaks.spans(1.0, 10 ** (CEILING_DB / 20), RATE, audio.shape[1]) == []
    assert peaks.spans(30.0, 10 ** (CEILING_DB / 20), RATE, audio.shape[1])  # the same, 30 dB up
    np.testing.assert_array_equal(_streamed(SpanLimiter(CEILING_DB, [], RATE, 2), audio), audio)
