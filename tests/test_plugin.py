import gc
import warnings

import numpy as np
import pedalboard
import pytest
import soundfile as sf
from pedalboard.io import AudioFile

from tuss_fx.errors import AudioReadError, AudioWriteError
from tuss_fx.media.audio_io import read_audio

from tuss_fx.plugin import DEFAULT_BUFFER_SIZE, Chain, HeldAudioWarning, TUSSExtract, TUSSRemix, TUSSRemove

from tests.conftest import noise


@pytest.fixture()
def sep(separator):
    separator.segment_seconds = 0.5
    return separator


def _streamed(plugin, audio, rate, block):
    parts = [plugin.process(audio[:, i : i + block], rate, reset=False) for i in range(0, audio.shape[1], block)]
    return np.concatenate([*parts, plugin.flush()], axis=1), parts


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("make", [
    lambda s: TUSSExtract("speech", separator=s),
    lambda s: TUSSRemove("musicbg", separator=s),
    lambda s: TUSSRemix(stem_chains={"speech": pedalboard.Pedalboard([pedalboard.HighpassFilter(120),
                                                                       pedalboard.Compressor(-24, 3)])},
                        gains_db={"musicbg": -6.0}, separator=s),
])
def test_block_by_block_equals_one_call(sep, rate, make):
    plugin = make(sep)
    audio = noise(2, int(1.3 * rate) + 11)
    whole = plugin(audio, rate)
    assert whole.shape == audio.shape
    streamed, parts = _streamed(plugin, audio, rate, 4000)
    assert streamed.shape == audio.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    # early calls hold samples back, never more than the reported latency
    held = np.cumsum([4000] * len(parts[:-1])) - np.cumsum([p.shape[1] for p in parts[:-1]])
    assert held.max() > 0 and held.max() <= plugin.latency_samples


def test_extract_and_remove_are_the_separators_stem_and_the_rest(sep):
    audio = noise(1, 30000)
    stream = sep.open_stream(["speech", "sfxbg", "musicbg"], 48000, 1)  # the task TUSSExtract("speech") uses, live
    stems = np.concatenate([stream.push(audio), stream.finish()], axis=-1)
    np.testing.assert_allclose(TUSSExtract("speech", separator=sep)(audio, 48000), stems[0], atol=1e-6)
    np.testing.assert_allclose(TUSSRemove("musicbg", separator=sep)(audio, 48000), audio - stems[2], atol=1e-6)


def test_remix_at_unity_is_the_identity_and_gains_are_exact(sep):
    audio = noise(2, 24000)
    np.testing.assert_allclose(TUSSRemix(separator=sep)(audio, 48000), audio, atol=1e-6)
    stems = sep.separate(audio, 48000, ["speech", "sfxbg", "musicbg"])
    louder = TUSSRemix(gains_db={"speech": 6.0}, separator=sep)(audio, 48000)
    np.testing.assert_allclose(louder, audio + (10 ** 0.3 - 1) * stems[0], atol=1e-5)


def test_chain_hosts_native_and_tuss_processors(sep):
    audio = noise(1, 24000)[0]  # mono (L,) stays mono
    chain = Chain([pedalboard.Gain(gain_db=-6.0), TUSSExtract("speech", separator=sep), pedalboard.Gain(gain_db=6.0)])
    out = chain(audio, 48000)
    assert out.shape == audio.shape
    expected = sep.separate(audio * 10 ** (-6 / 20), 48000, ["speech", "sfxbg", "musicbg"])[0, 0] * 10 ** (6 / 20)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # each native run holds fewer than one buffer_size block, the separator up to its own latency
    assert chain.latency_samples == chain[1].latency_samples + 2 * (DEFAULT_BUFFER_SIZE - 1)
    assert chain[1].latency_samples > 0


def test_layout_is_never_guessed(sep):
    with pytest.raises(ValueError, match="channels-first"):
        TUSSExtract("speech", separator=sep)(noise(1, 4800).T.repeat(2, axis=1), 48000)  # (L, 2)
    with pytest.raises(TypeError):
        Chain([object()])


# --- pedalboard's streaming idioms, verbatim (spotify.github.io/pedalboard/examples.html, Quick start) ---

RATE = 48000
# pedalboard.io writes 16-bit WAV by default: one step is 3.1e-5
WAV16_ATOL = 1e-4
MAKERS = {
    "remix": lambda s: TUSSRemix(gains_db={"speech": 4.0, "musicbg": -6.0}, separator=s),
    "extract": lambda s: TUSSExtract("speech", separator=s),
    "remove": lambda s: TUSSRemove("musicbg", separator=s),
}


def _board(sep, kind):
    return Chain([pedalboard.HighpassFilter(cutoff_frequency_hz=30), MAKERS[kind](sep), pedalboard.Gain(gain_db=-1.0)])


@pytest.fixture()
def program(tmp_path):
    """2.5 s of stereo noise in a WAV file, and the audio as pedalboard reads it back."""
    path = tmp_path / "program.wav"
    with AudioFile(str(path), "w", RATE, 2) as o:
        o.write(noise(2, int(2.5 * RATE) + 777))
    with AudioFile(str(path)) as f:
        return path, f.read(f.frames)


def _quick_start(board, in_path, out_path, frames_per_read, reset_on_last=False, flush=False):
    with AudioFile(str(in_path)) as f:
        with AudioFile(str(out_path), "w", f.samplerate, f.num_channels) as o:
            while f.tell() < f.frames:
                chunk = f.read(frames_per_read or f.samplerate)
                effected = board(chunk, f.samplerate, reset=f.tell() == f.frames if reset_on_last else False)
                o.write(effected)
            if flush:
                o.write(board.flush())
    with AudioFile(str(out_path)) as f:
        return f.read(f.frames)


@pytest.mark.parametrize("frames_per_read", [None, 4096, 1001])  # one second, a power of two, odd
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_quick_start_loop_with_flush_gives_every_sample_of_one_call(sep, program, tmp_path, kind, frames_per_read):
    path, audio = program
    board = _board(sep, kind)
    one_call = board(audio, RATE)
    out = _quick_start(board, path, tmp_path / "out.wav", frames_per_read, flush=True)
    assert out.shape == audio.shape
    np.testing.assert_allclose(out, one_call, atol=WAV16_ATOL)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_quick_start_loop_without_flush_warns_with_the_missing_count(sep, program, tmp_path, kind):
    path, audio = program
    board = _board(sep, kind)
    out = _quick_start(board, path, tmp_path / "out.wav", 4096)
    missing = audio.shape[1] - out.shape[1]
    assert missing > 0
    with pytest.warns(HeldAudioWarning, match=rf"{missing} held samples .* never flushed .* flush\(\)"):
        del board
        gc.collect()


@pytest.mark.parametrize("frames_per_read", [None, 4096, 1001])
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_reset_on_the_last_block_warns_with_the_dropped_count(sep, program, tmp_path, kind, frames_per_read):
    path, audio = program
    board = _board(sep, kind)
    with pytest.warns(HeldAudioWarning, match=r"held samples .* discarded by reset=True.* flush\(\)") as caught:
        out = _quick_start(board, path, tmp_path / "out.wav", frames_per_read, reset_on_last=True)
    dropped = int(str(caught[0].message).split(": ")[1].split()[0])
    assert out.shape[1] == audio.shape[1] - dropped


def test_stream_and_process_file_flush_by_themselves(sep, program, tmp_path):
    path, audio = program
    board = _board(sep, "remix")
    one_call = board(audio, RATE)
    with AudioFile(str(path)) as f, AudioFile(str(tmp_path / "streamed.wav"), "w", f.samplerate, 2) as o:
        assert board.stream(f, o, block_frames=3000) == audio.shape[1]
    with AudioFile(str(tmp_path / "streamed.wav")) as f:
        np.testing.assert_allclose(f.read(f.frames), one_call, atol=WAV16_ATOL)
    written = board.process_file(path, tmp_path / "file.wav")
    decoded = read_audio(path)[0]  # soundfile scales 16-bit by 1/32768, pedalboard.io by 1/32767
    np.testing.assert_allclose(read_audio(written)[0], board(decoded, RATE), atol=1e-6)  # float WAV


def test_with_block_warns_and_explicit_reset_does_not(sep):
    audio = noise(2, 20000)
    with pytest.warns(HeldAudioWarning, match="end of the `with` block"):
        with _board(sep, "extract") as board:
            board(audio, RATE, reset=False)
    board(audio, RATE, reset=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        board.reset()
        del board
        gc.collect()


def test_chain_is_a_list_like_pedalboard(sep):
    gain, hp, extract = pedalboard.Gain(-3), pedalboard.HighpassFilter(50), TUSSExtract("speech", separator=sep)
    chain = Chain([gain])
    chain.insert(0, hp)
    chain.append(extract)
    assert list(chain) == [hp, gain, extract] and chain[-1] is extract and extract in chain
    sliced = chain[1:]
    assert isinstance(sliced, Chain) and list(sliced) == [gain, extract]
    chain[0] = reverb = pedalboard.Reverb()
    chain[1:2] = [pedalboard.Gain(0), pedalboard.Gain(0)]
    chain.remove(reverb)
    del chain[0]
    assert [type(p).__name__ for p in chain] == ["Gain", "TUSSExtract"]
    with pytest.raises(TypeError, match="neither a pedalboard plugin nor a tuss-fx processor"):
        chain.insert(0, object())
    with pytest.raises(ValueError):
        chain.remove(hp)


def test_chain_reset_resets_every_member(sep):
    """A reverb tail must not leak into the next signal after reset(), as with Pedalboard.reset()."""
    reverb, extract = pedalboard.Reverb(room_size=0.9), TUSSExtract("speech", separator=sep)
    chain = Chain([reverb])
    chain(noise(2, 20000, scale=0.5), RATE, buffer_size=1000, reset=False)
    extract(noise(2, 30000), RATE, reset=False)
    chain.append(extract)
    chain.reset()
    assert extract.flush().size == 0  # its own stream was dropped too
    silence = np.zeros((2, 4000), np.float32)
    assert not np.abs(reverb(silence, RATE, reset=False)).any()


def test_call_signature_matches_pedalboard(sep):
    board = pedalboard.Pedalboard([pedalboard.Compressor(-20, 4)])
    chain = Chain([pedalboard.Compressor(-20, 4)])
    audio = noise(2, 30000, scale=0.5)
    np.testing.assert_array_equal(chain.process(audio, RATE, buffer_size=512, reset=True),
                                  board.process(audio, RATE, buffer_size=512, reset=True))
    np.testing.assert_array_equal(chain(audio, float(RATE)), board(audio, float(RATE)))


@pytest.mark.parametrize("host", [
    lambda p: pedalboard.Pedalboard([p]),
    lambda p: pedalboard.Pedalboard([pedalboard.Gain(0)]).append(p),
    lambda p: pedalboard.Pedalboard().insert(0, p),
    lambda p: pedalboard.Mix([p]),
])
def test_a_native_pedalboard_given_a_tuss_processor_says_to_use_chain(sep, host):
    with pytest.raises(TypeError, match=r"put it in a tuss_fx\.plugin\.Chain"):
        host(TUSSRemix(separator=sep))


def test_stem_chains_refuse_tuss_processors(sep):
    with pytest.raises(TypeError, match=r"stem_chains\['speech'\] must be a native pedalboard"):
        TUSSRemix(stem_chains={"speech": TUSSExtract("speech", separator=sep)}, separator=sep)


def test_process_file_errors_name_the_file_and_leave_nothing_behind(sep, tmp_path):
    board = _board(sep, "extract")
    with pytest.raises(AudioReadError, match="missing.wav: no such file"):
        board.process_file(tmp_path / "missing.wav", tmp_path / "out.wav")
    bad = noise(2, 60000)
    bad[1, 50000] = np.nan
    sf.write(tmp_path / "nan.wav", bad.T, RATE, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="nan.wav: non-finite sample .* at frame 50000"):
        board.process_file(tmp_path / "nan.wav", tmp_path / "out.wav", block_frames=4096)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.wav"]
    (tmp_path / "out.wav").write_bytes(b"keep")
    with pytest.raises(AudioWriteError, match="out.wav: exists already"):
        board.process_file(tmp_path / "nan.wav", tmp_path / "out.wav")
    assert (tmp_path / "out.wav").read_bytes() == b"keep"
