import json

import numpy as np
import pytest
import soundfile as sf

from tuss_fx.train.corpus import build_corpus, load_pools, trim_silence
from tuss_fx.train.packages import CorpusError, SourceSpec


def _package(root, name, licence, files):
    doc = root / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                                   f"Files: *\nCopyright: someone\nLicense: {licence}\n")
    for relative, rate, seconds in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(rate * seconds)) / rate
        tone = 0.3 * np.sin(2 * np.pi * 440 * t)
        padded = np.concatenate([np.zeros(rate // 2), tone, np.zeros(rate // 2)])  # silence to trim
        sf.write(path, np.stack([padded, padded]).T, rate)


@pytest.fixture()
def root(tmp_path):
    root = tmp_path / "root"
    _package(root, "voices-data", "CC-BY-SA-3.0", [("usr/share/voices/a.ogg", 44100, 1.0),
                                                   ("usr/share/voices/b.wav", 8000, 2.0)])
    _package(root, "noise-data", "CC0", [("usr/share/noise/n.flac", 48000, 0.3)])  # too short after trim
    return root


SPECS = (SourceSpec("speech", "voices-data", ("usr/share/voices/*",)),
         SourceSpec("sfxbg", "noise-data", ("usr/share/noise/*.flac",), "heldout"))


def test_build_writes_48k_mono_clips_and_a_manifest(root, tmp_path):
    out = tmp_path / "corpus"
    clips = build_corpus(out, SPECS, root=root)
    assert [c.source_path for c in clips] == ["usr/share/voices/a.ogg", "usr/share/voices/b.wav"]
    b = clips[1]
    assert b.native_sample_rate == 8000 and b.bandwidth_hz == 4000 and b.licence == "CC-BY-SA-3.0"
    audio, rate = sf.read(out / b.path)
    assert rate == 48000 and audio.ndim == 1
    assert abs(len(audio) / rate - 2.0) < 0.05  # the half-seconds of silence were trimmed
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(len(line["sha256"]) == 64 for line in lines)
    assert "| voices-data | CC-BY-SA-3.0 | 2 |" in (out / "ATTRIBUTION.md").read_text()
    pools = load_pools(out, "train")
    assert list(pools) == ["speech"] and len(pools["speech"]) == 2


def test_missing_package_names_the_install_command(root, tmp_path):
    spec = (SourceSpec("musicbg", "wesnoth-1.16-music", ("usr/share/games/wesnoth/*",)),)
    with pytest.raises(CorpusError, match="apt-get install --no-install-recommends wesnoth-1.16-music"):
        build_corpus(tmp_path / "c", spec, root=root)
    assert build_corpus(tmp_path / "c", spec, root=root, skip_missing=True) == []


def test_trim_silence():
    audio = np.concatenate([np.zeros(5000), np.ones(3000) * 0.5, np.zeros(5000)]).astype(np.float32)
    trimmed = trim_silence(audio)
    assert 3000 <= len(trimmed) <= 3000 + 2 * 1024 and trimmed.max() == 0.5
    assert len(trim_silence(np.zeros(10000))) == 0


def test_coloured_noise_slopes():
    from tuss_fx.train.corpus import coloured_noise

    white, pink, brown = coloured_noise(3, 2.0, seed=0)
    for clip in (white, pink, brown):
        assert abs(np.sqrt(np.mean(clip**2)) - 0.1) < 1e-3
    def slope(clip):  # power ratio between 100 Hz-1 kHz and 1-10 kHz bands, in dB per decade
        power = np.abs(np.fft.rfft(clip)) ** 2
        f = np.fft.rfftfreq(len(clip), 1 / 48000)
        return 10 * np.log10(power[(f > 1000) & (f < 10000)].mean() / power[(f > 100) & (f < 1000)].mean())
    assert abs(slope(white)) < 1.0 and -13 < slope(pink) < -7 and -23 < slope(brown) < -17


def test_archive_members_are_decoded_and_named_by_archive_and_member(tmp_path):
    import io
    import zipfile

    root = tmp_path / "root"
    _package(root, "game-data", "GPL-2+", [])
    rate = 22050
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate)).astype(np.float32)
    archive = root / "usr/share/games/game/pak0.pk3"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in ("sound/weapons/gun.wav", "sound/world/ambient/wind.wav", "sound/readme.txt"):
            data = io.BytesIO()
            if name.endswith(".wav"):
                sf.write(data, tone, rate, format="WAV")
            else:
                data.write(b"not audio")
            bundle.writestr(name, data.getvalue())
    spec = SourceSpec("sfx", "game-data", ("sound/weapons/*", "sound/*.txt"), archive="usr/share/games/*/pak0.pk3")
    clips = build_corpus(tmp_path / "c", (spec,), root=root)
    assert [c.source_path for c in clips] == ["usr/share/games/game/pak0.pk3!sound/weapons/gun.wav"]
    assert clips[0].native_sample_rate == rate and clips[0].package == "game-data"


def test_disk_clips_read_the_same_samples_as_a_whole_file_read(root, tmp_path):
    from tuss_fx.train.corpus import DiskClip

    out = tmp_path / "corpus"
    build_corpus(out, SPECS, root=root)
    clip = load_pools(out, "train")["speech"][0]
    assert isinstance(clip, DiskClip)
    whole = sf.read(clip.path, dtype="float32")[0]
    assert len(clip) == len(whole)
    np.testing.assert_array_equal(clip[100:900], whole[100:900])
    np.testing.assert_array_equal(clip[0:len(clip)], whole)
    with pytest.raises(IndexError):
        clip[0:10:2]


def _g722_file(path, tone_hz: float, seconds: float = 1.0) -> None:
    """A raw G.722 stream of a tone, encoded by PyAV's FFmpeg (as the asterisk -g722 packages ship it)."""
    import av

    rate = 16000
    tone = (0.3 * 32767 * np.sin(2 * np.pi * tone_hz * np.arange(int(rate * seconds)) / rate)).astype(np.int16)
    with av.open(str(path), "w", format="g722") as container:
        stream = container.add_stream("g722", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone[None], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_g722_prompts_decode_to_16k_wideband_speech(tmp_path):
    """A 6 kHz tone survives G.722 (wideband: up to 7 kHz), which the same prompts' 8 kHz WAV could not carry."""
    from tuss_fx.train.packages import read_g722

    path = tmp_path / "prompt.g722"
    _g722_file(path, 6000.0)
    audio, rate = read_g722(path)
    assert rate == 16000 and audio.shape[1] == 1 and abs(len(audio) - 16000) < 400
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    peak_hz = np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)]
    assert abs(peak_hz - 6000) < 20
    assert 0.1 < np.abs(audio).max() < 0.5  # 16-bit PCM scaled to ±1


def test_g722_sources_build_like_any_package_file(tmp_path):
    root = tmp_path / "root"
    _package(root, "prompts-g722", "CC-BY-SA-3.0", [])
    target = root / "usr/share/prompts/hello.g722"
    target.parent.mkdir(parents=True)
    _g722_file(target, 440.0, seconds=2.0)
    (root / "usr/share/prompts/broken.g722").write_bytes(b"")  # undecodable: skipped, not fatal
    clips = build_corpus(tmp_path / "corpus", [SourceSpec("speech", "prompts-g722", ("usr/share/prompts/*",))],
                         root=root)
    assert [c.native_sample_rate for c in clips] == [16000]
    assert clips[0].bandwidth_hz == 8000 and 1.5 < clips[0].seconds <= 2.1
