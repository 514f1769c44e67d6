"""The dialogue engine in the product: DFN3 serves speech, TUSS the other stems, sums still close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from tests.conftest import PARITY_DIR
from tuss_fx.batch.jobs import BatchJob
from tuss_fx.cli.commands import main
from tuss_fx.deepfilternet import LanedStream, enhance, load_network
from tuss_fx.deepfilternet.lanes import SPAN_SECONDS, SpanLanes
from tuss_fx.mix.presets import PresetError
from tuss_fx.mix.presets import parse_preset
from tuss_fx.plugin import TUSSExtract
from tuss_fx.separation.dialogue import DialogueSplit, check_model_rate, resolve_engine
from tuss_fx.separation.separator import Separator
from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
DMX = ["speech", "sfxbg", "musicbg"]


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """(2, L) 48 kHz: a real reading over real strings, the second channel quieter and offset."""
    import soxr

    def read(name: str, seconds: float) -> np.ndarray:
        audio, rate = sf.read(MEDIA / name, dtype="float32", always_2d=True)
        return soxr.resample(audio.mean(axis=1), rate, 48000)[: int(seconds * 48000)].astype(np.float32)

    voice, strings = read("ljspeech-LJ050-0131.ogg", 3.0), read("hungarian-dance-5-strings.ogg", 3.0)
    mix = voice + 0.5 * strings
    return np.stack([mix, 0.7 * np.roll(mix, 4800)])


@pytest.fixture(scope="module")
def network():
    return load_network()


@pytest.fixture(scope="module")
def engines() -> dict[str, Separator]:
    """The parity fixture's real TUSS network, behind each engine (segments of 1 s: several per scene)."""
    return {engine: Separator.from_pretrained(PARITY_DIR, device="cpu", dialogue_engine=engine, segment_seconds=1.0)
            for engine in ("tuss", "deepfilternet")}


def test_auto_takes_the_recorded_engine_and_tuss_without_one():
    assert resolve_engine("auto", "deepfilternet") == "deepfilternet"
    assert resolve_engine("auto", None) == "tuss"
    assert resolve_engine("tuss", "deepfilternet") == "tuss"
    with pytest.raises(ValueError, match="dialogue engine must be one of"):
        resolve_engine("demucs", None)
    # the shipped default records that DFN3 measured better; an official checkpoint records nothing
    assert Separator.from_pretrained("default", device="cpu").dialogue_engine == "deepfilternet"
    assert Separator.from_pretrained(PARITY_DIR, device="cpu").dialogue_engine == "tuss"


def test_speech_is_dfn3_on_the_mix_and_the_rest_is_tuss_on_the_mix(engines, network, scene):
    stems = engines["deepfilternet"].separate(scene, 48000, DMX)
    np.testing.assert_allclose(stems[0], enhance(network, scene), atol=1e-6)
    tuss_alone = engines["tuss"].separate(scene, 48000, DMX)
    np.testing.assert_allclose(stems[1:], tuss_alone[1:], atol=1e-6)
    assert np.abs(stems[0] - tuss_alone[0]).max() > 0.01  # speech really comes from the other engine


def test_talkers_are_tuss_splitting_the_dialogue(engines, network, scene):
    prompts = ["speech", "musicbg", "speech"]
    stems = engines["deepfilternet"].separate(scene, 48000, prompts)
    dialogue = enhance(network, scene)
    talkers = engines["tuss"].separate(dialogue, 48000, ["speech", "speech"])
    np.testing.assert_allclose(stems[[0, 2]], talkers, atol=1e-5)
    np.testing.assert_allclose(stems[1], engines["tuss"].separate(scene, 48000, prompts)[1], atol=1e-6)


def test_speech_alone_needs_no_tuss_and_the_stems_task_is_untouched(engines, network, scene):
    only = engines["deepfilternet"].separate(scene, 48000, ["speech"])
    np.testing.assert_allclose(only[0], enhance(network, scene), atol=1e-6)
    stems_task = ["vocals", "drums", "bass", "other"]
    np.testing.assert_array_equal(engines["deepfilternet"].separate(scene, 48000, stems_task),
                                  engines["tuss"].separate(scene, 48000, stems_task))


@pytest.mark.parametrize("block", [1001, 48000])
def test_streaming_at_another_rate_matches_one_call_and_closes_the_sum(engines, scene, block):
    import soxr

    audio = soxr.resample(scene.T, 48000, 44100).T.astype(np.float32)
    separator = engines["deepfilternet"]
    whole = separator.separate(audio, 44100, DMX)
    stream = separator.open_stream(DMX, 44100, 2, audio.shape[1])
    assert stream.latency_samples > engines["tuss"].open_stream(DMX, 44100, 2).latency_samples
    regions, mixtures = [], []
    for start in range(0, audio.shape[1], block):
        regions.append(stream.push(audio[:, start : start + block]))
        mixtures.append(stream.mixture_for(regions[-1]))
    regions.append(stream.finish())
    mixtures.append(stream.mixture_for(regions[-1]))
    stems, mixture = np.concatenate(regions, axis=-1), np.concatenate(mixtures, axis=-1)
    assert stems.shape == whole.shape == (3, 2, audio.shape[1])
    np.testing.assert_allclose(stems, whole, atol=1e-5)
    np.testing.assert_array_equal(mixture, audio)  # the residual is computed against the true input


def test_dialogue_split_pairs_each_dialogue_sample_with_its_input(network, scene):
    split = DialogueSplit(network, 2)
    pairs = [split.push(scene[:, i : i + 7000]) for i in range(0, scene.shape[1], 7000)] + [split.finish()]
    dialogue = np.concatenate([d for d, _ in pairs], axis=1)
    mixture = np.concatenate([m for _, m in pairs], axis=1)
    np.testing.assert_array_equal(mixture, scene)
    np.testing.assert_allclose(dialogue, enhance(network, scene), atol=1e-6)


def test_a_model_at_another_rate_is_refused():
    check_model_rate(48000)
    with pytest.raises(ValueError, match="needs a 48 kHz model, this one runs at 16000 Hz"):
        check_model_rate(16000)


def test_cli_separate_and_info_take_the_engine(tmp_path, scene, network):
    source = tmp_path / "scene.wav"
    sf.write(source, scene.T, 48000, subtype="FLOAT")
    result = CliRunner().invoke(main, ["separate", str(source), "-o", str(tmp_path / "out"), "--checkpoint",
                                       str(PARITY_DIR), "--device", "cpu", "--dialogue-engine", "deepfilternet"])
    assert result.exit_code == 0, result.output
    speech, _ = sf.read(tmp_path / "out" / "scene" / "speech.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(speech.T, enhance(network, scene), atol=1e-6)
    bad = CliRunner().invoke(main, ["separate", str(source), "--dialogue-engine", "magic"])
    assert bad.exit_code == 2 and "magic" in bad.output
    info = CliRunner().invoke(main, ["info", "--checkpoint", str(PARITY_DIR), "--device", "cpu"])
    assert "dialogue:   TUSS" in info.output
    info = CliRunner().invoke(main, ["info", "--device", "cpu"])
    assert "dialogue:   DeepFilterNet3 takes the dialogue" in info.output


def test_preset_key_is_validated_and_reaches_the_batch_job():
    base = {"name": "p", "prompts": DMX}
    assert parse_preset({**base, "dialogue_engine": "tuss"}, "p.toml").dialogue_engine == "tuss"
    assert parse_preset(base, "p.toml").dialogue_engine is None
    with pytest.raises(PresetError, match="p.toml: dialogue_engine: 'best' is not one of"):
        parse_preset({**base, "dialogue_engine": "best"}, "p.toml")
    job = BatchJob("remix", Path("out"), overrides=("dialogue_engine=tuss",))
    assert job.engine() == "tuss" and job.identity()["dialogue_engine"] == "tuss"
    assert BatchJob("remix", Path("out")).engine() == "auto"
    assert BatchJob("remix", Path("out"), dialogue_engine="deepfilternet").engine() == "deepfilternet"


def test_plugin_processors_take_the_engine(network, scene):
    extract = TUSSExtract("speech", checkpoint=str(PARITY_DIR), dialogue_engine="deepfilternet")
    out = extract.process(scene, 48000)
    np.testing.assert_allclose(out, enhance(network, scene), atol=1e-6)
    with pytest.raises(ValueError, match="pass it to the Separator"):
        TUSSExtract("speech", separator=extract.separator, dialogue_engine="tuss")


def test_attenuation_limit_reaches_the_engine_through_the_cli(scene, network, tmp_path):
    """--dialogue-atten-lim-db on `separate` gives the dialogue stem DFN3 computes with that limit,
    which keeps more of the background than no limit does."""
    source = tmp_path / "scene.wav"
    sf.write(source, scene.T, 48000, subtype="FLOAT")
    stems = {}
    for name, extra in (("limited", ["--dialogue-atten-lim-db", "6"]), ("free", [])):
        result = CliRunner().invoke(main, ["separate", str(source), "-p", "speech", "-o", str(tmp_path / name),
                                           "--checkpoint", str(PARITY_DIR), "--dialogue-engine", "deepfilternet",
                                           *extra])
        assert result.exit_code == 0, result.output
        stems[name] = sf.read(tmp_path / name / "scene" / "speech.wav", dtype="float32", always_2d=True)[0].T
    np.testing.assert_allclose(stems["limited"], enhance(network, scene, 6.0), atol=1e-5)
    residual = {name: np.sum((scene - stem) ** 2) for name, stem in stems.items()}
    assert residual["limited"] < 0.5 * residual["free"]  # at most 6 dB taken: far less left the stem


@pytest.mark.parametrize("offline", [False, True], ids=["live", "file"])
def test_the_dialogue_path_holds_the_same_samples_at_two_minutes_and_at_four(parity_model, offline):
    """Memory of the dialogue engine's path (resampler, DFN3 lanes, the queues that pair its dialogue
    with the mix) does not grow with the length: what it holds through 4 minutes of 44.1 kHz mono,
    fed in 1 s blocks, stays within the first two minutes' most plus a few 10 ms hops (the hop grid
    meets the block size, and a file's rounds of spans, at another phase each time), and under the
    stream's stated latency live, or three rounds of spans for a file (on 2 threads a mono file runs
    2 spans side by side)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        separator = Separator(parity_model, device="cpu", dialogue_engine="deepfilternet")
        rate, block = 44100, 44100
        minutes = 4  # a queue that grows by 10 samples a second passes the bound within the last two
        stream = separator.open_stream(["speech"], rate, 1, minutes * 60 * rate if offline else None)
        engine = stream._split._stream
        assert isinstance(engine, SpanLanes if offline else LanedStream)
        rng = np.random.default_rng(0)

        def held() -> int:  # input not yet returned as stems, and what the engine's queues hold
            return (second + 1) * block - out + stream._split._mixture.size + engine.held_samples

        first_half = most = out = 0
        for second in range(minutes * 60):
            out += stream.push((rng.standard_normal((1, block)) * 0.05).astype(np.float32)).shape[-1]
            first_half = max(first_half, held()) if second < 120 else first_half
            most = max(most, held())
        if offline:  # a round's input waits three times: unanswered, as the mix beside it, in the engine
            hops, bound = 10, 3 * (engine.spans_per_round * SPAN_SECONDS * 48000 + block)
        else:
            hops, bound = 4, stream.latency_samples + block
        assert most <= first_half + hops * 441 and most <= bound
        assert out + stream.finish().shape[-1] == minutes * 60 * rate
    finally:
        torch.set_num_threads(threads)
