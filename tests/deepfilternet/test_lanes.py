"""The dialogue engine on every core: channel lanes compute what one stream does, time spans follow it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.deepfilternet.test_enhancer import _scene, _snr_db
from tuss_fx.deepfilternet import LanedStream
from tuss_fx.deepfilternet.enhancer import DeepFilterNet3Stream, load_network
from tuss_fx.deepfilternet.lanes import SpanLanes, lane_count, spans_per_round

RATE = 48000


@pytest.fixture(scope="module")
def network():
    return load_network()


def _stream(network, signal: np.ndarray) -> np.ndarray:
    one = DeepFilterNet3Stream(network, signal.shape[0])
    return np.concatenate([one.push(signal), one.finish()], axis=1)


def _pushed(engine, signal: np.ndarray, block: int) -> np.ndarray:
    parts = [engine.push(signal[:, i : i + block]) for i in range(0, signal.shape[1], block)] + [engine.finish()]
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("lanes", [2, 3])
def test_lanes_compute_what_one_stream_does(network, lanes):
    mix = _scene("ljspeech-LJ050-0131.ogg", "hungarian-dance-5-strings.ogg", 0.7, seconds=2.0)
    channels = np.stack([mix, 0.5 * mix[::-1], np.roll(mix, 4321)])
    one = DeepFilterNet3Stream(network, 3)
    reference = np.concatenate([one.push(channels), one.finish()], axis=1)
    threads = torch.get_num_threads()
    laned = LanedStream(network, 3, lanes=lanes)
    assert laned.lanes == lanes
    parts = [laned.push(channels[:, i : i + 7001]) for i in range(0, channels.shape[1], 7001)] + [laned.finish()]
    assert torch.get_num_threads() == threads  # each lane's share is given back
    out = np.concatenate(parts, axis=1)
    assert out.shape == channels.shape
    # the lanes' smaller GEMMs round differently; a channel sent to the wrong lane would be far off
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_one_lane_per_channel_at_most_one_per_thread_and_spans_take_the_rest():
    assert [lane_count(channels, threads=4) for channels in (1, 2, 6)] == [1, 2, 4]
    assert lane_count(6, threads=1) == 1
    assert [spans_per_round(channels, threads=2) for channels in (1, 2, 6)] == [2, 1, 1]
    assert spans_per_round(2, threads=16) == 8
    assert spans_per_round(1, threads=64) == 16  # a round's memory is capped


def _stereo_scene(seconds: float) -> np.ndarray:
    mix = _scene("librispeech-198-209-0000.ogg", "hungarian-dance-5-strings.ogg", 0.5, seconds=seconds)
    return np.stack([mix, np.roll(mix, 7919)])


def test_spans_follow_the_stream_sample_aligned(network):
    signal = _stereo_scene(9.0)
    reference = _stream(network, signal)
    threads = torch.get_num_threads()
    # spans of 3 s with 3 s of warm-up: the second span's stream starts at the file's start, as the
    # stream does, and carries on into the last: all bookkeeping, no approximation -> the stream
    spans = SpanLanes(network, 2, threads=4, span_seconds=3.0, warm_up_seconds=3.0)
    assert spans.spans_per_round == 2
    exact = _pushed(spans, signal, 30011)
    assert torch.get_num_threads() == threads
    assert exact.shape == signal.shape
    np.testing.assert_allclose(exact, reference, atol=1e-5)
    # 1 s of warm-up: fresh states mid-file (measured 15.3 dB here; 20 s gives 57 dB on 264 s of scenes);
    # the first span is the stream itself; a span one hop off scores -2 dB
    short = _pushed(SpanLanes(network, 2, threads=4, span_seconds=2.0, warm_up_seconds=1.0), signal, 30011)
    np.testing.assert_allclose(short[:, : 2 * RATE], reference[:, : 2 * RATE], atol=1e-5)
    assert _snr_db(reference, short) > 12.0
    # where rounds and spans fall depends on the input's positions, never on its blocks
    again = SpanLanes(network, 2, threads=4, span_seconds=2.0, warm_up_seconds=1.0)
    np.testing.assert_array_equal(_pushed(again, signal, 48000 * 3 + 17), short)


def test_a_file_shorter_than_two_warm_ups_is_the_stream(network):
    signal = _stereo_scene(1.5)
    spans = SpanLanes(network, 2, threads=4, span_seconds=2.0, warm_up_seconds=1.0)
    np.testing.assert_allclose(_pushed(spans, signal, 10007), _stream(network, signal), atol=1e-5)
