import numpy as np
import pyloudnorm
import pytest

from tuss_fx.measure.loudness import LoudnessMeter


def _stream(signal, sample_rate, block):
    meter = LoudnessMeter(sample_rate, signal.shape[0])
    for start in range(0, signal.shape[1], block):
        meter.push(signal[:, start : start + block])
    return meter


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("num_channels", [1, 2, 5])
@pytest.mark.parametrize("block", [1000, 4096, 100_000])
def test_streamed_loudness_equals_pyloudnorm(sample_rate, num_channels, block):
    rng = np.random.default_rng(num_channels)
    seconds = 3.3
    signal = rng.standard_normal((num_channels, int(seconds * sample_rate))) * 0.05
    signal[:, : sample_rate // 2] *= 0.001  # a quiet stretch the relative gate must drop
    expected = pyloudnorm.Meter(sample_rate).integrated_loudness(signal.T)
    assert _stream(signal, sample_rate, block).integrated_lufs() == pytest.approx(expected, abs=1e-6)


def test_full_scale_sine_reads_minus_3_lufs():
    # BS.1770 calibration: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS (+-0.1 LU allowed)
    t = np.arange(48000 * 2) / 48000
    meter = _stream(np.sin(2 * np.pi * 997 * t)[None], 48000, 48000)
    assert meter.integrated_lufs() == pytest.approx(-3.01, abs=0.1)
    assert meter.peak == pytest.approx(1.0, abs=1e-4)


def test_5_1_ignores_the_lfe_channel():
    signal = np.random.default_rng(0).standard_normal((6, 48000)) * 0.1
    with_lfe = _stream(signal, 48000, 10000).integrated_lufs()
    signal[3] = 0
    assert _stream(signal, 48000, 10000).integrated_lufs() == pytest.approx(with_lfe, abs=1e-9)


def test_silence_and_short_input():
    assert _stream(np.zeros((2, 48000)), 48000, 5000).integrated_lufs() == float("-inf")
    with pytest.raises(ValueError, match="shorter than one"):
        _stream(np.zeros((1, 1000)), 48000, 500).integrated_lufs()


def test_7_1_weights_side_pair_up_and_ignores_the_lfe():
    """A sine in one channel reads -3.01 LUFS; in a side channel of 7.1 (index 6, 7) +1.5 dB more
    (weight 1.41), in a back channel (4, 5) the same as a front one, and in the LFE nothing."""
    t = np.arange(48000 * 2) / 48000
    readings = []
    for channel in range(8):
        signal = np.zeros((8, t.size))
        signal[channel] = np.sin(2 * np.pi * 997 * t)
        readings.append(_stream(signal, 48000, 20000).integrated_lufs())
    assert readings[0] == pytest.approx(-3.01, abs=0.1) and readings[3] == float("-inf")
    assert readings[4] == pytest.approx(readings[0], abs=1e-6)
    assert readings[6] - readings[0] == pytest.approx(10 * np.log10(1.41), abs=1e-6)
    with pytest.raises(ValueError, match="7 channels"):
        LoudnessMeter(48000, 7)


def _sine_programme(levels_dbfs, seconds_each=20.0, rate=48000):
    """EBU Tech 3342's test signals 1-4: a stereo 1 kHz sine whose level steps through `levels_dbfs`."""
    t = np.arange(round(seconds_each * rate)) / rate
    sine = np.sin(2 * np.pi * 1000 * t)
    mono = np.concatenate([10 ** (level / 20) * sine for level in levels_dbfs])
    return np.stack([mono, mono]).astype(np.float32)


@pytest.mark.parametrize("levels, expected_lu", [
    ((-20, -30), 10.0),  # Tech 3342 test signal 1
    ((-20, -15), 5.0),  # 2
    ((-40, -20), 20.0),  # 3
    ((-50, -35, -20, -35, -50), 15.0),  # 4
])
def test_loudness_range_of_the_tech_3342_test_signals(levels, expected_lu):
    from tuss_fx.measure.meters import ProgrammeMeter

    meter = ProgrammeMeter(48000, 2)
    signal = _sine_programme(levels)
    for start in range(0, signal.shape[1], 48000):
        meter.push(signal[:, start : start + 48000])
    meter.finish()
    summary = meter.summary()
    assert summary["loudness_range_lu"] == pytest.approx(expected_lu, abs=0.1)
    # the loudest short-term and momentary windows sit on the loudest step: its sine's loudness
    loudest = max(levels) + 10 * np.log10(2) - 3.0103 + 0.691 - 0.691  # two channels, sine RMS; K-weighting at 1 kHz
    assert summary["max_short_term_lufs"] == pytest.approx(loudest, abs=0.2)
    assert summary["max_momentary_lufs"] == pytest.approx(loudest, abs=0.2)


def test_loudness_range_gates():
    from tuss_fx.measure.loudness import loudness_range

    assert loudness_range(np.array([np.nan, -80.0, -90.0])) == 0.0  # all under the absolute gate
    # a quiet tail more than 20 LU under the rest is gated out, so it does not widen the range
    steady = np.full(100, -20.0)
    assert loudness_range(np.concatenate([steady, np.full(100, -45.0)])) == pytest.approx(0.0)
    assert loudness_range(np.concatenate([steady, np.full(100, -35.0)])) == pytest.approx(15.0)


def test_an_empty_block_is_nothing_to_the_meter():
    """Streams hand empty blocks (a chain holding its samples back): the K-weighting passes them as empty."""
    audio = (0.1 * np.random.default_rng(2).standard_normal((2, 48_000))).astype(np.float32)
    whole, pieces = LoudnessMeter(48_000, 2, 0.1), LoudnessMeter(48_000, 2, 0.1)
    whole.push(audio)
    assert LoudnessMeter(48_000, 2).k_weighted(audio[:, :0]).shape == (2, 0)
    for block in (audio[:, :0], audio[:, :20_000], audio[:, 20_000:20_000], audio[:, 20_000:]):
        pieces.push(block)
    assert pieces.integrated_lufs() == pytest.approx(whole.integrated_lufs(), abs=1e-9)
    assert pieces.hop_energies == pytest.approx(whole.hop_energies)
