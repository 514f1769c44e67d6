"""The examples run as written, and the manual's snippets do what the manual says they do (their output
checked here; tests/test_docs_snippets.py runs every snippet)."""

import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from tests.conftest import noise

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide"


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_pedalboard_chain_example(parity_dir, tmp_path):
    sf.write(tmp_path / "in.wav", noise(2, 30000).T, 44100, subtype="FLOAT")
    result = _run(ROOT / "examples" / "pedalboard_chain.py", tmp_path / "in.wav", tmp_path / "out.wav",
                  "--checkpoint", parity_dir)
    assert result.returncode == 0, result.stderr
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == 44100 and out.shape == (30000, 2) and np.isfinite(out).all()
    again = _run(ROOT / "examples" / "pedalboard_chain.py", tmp_path / "in.wav", tmp_path / "out.wav",
                 "--checkpoint", parity_dir)
    assert again.returncode == 1 and again.stderr.strip().endswith("out.wav: exists already (pass overwrite=True "
                                                                   "to replace it)")


def test_batch_example_processes_skips_and_reports(parity_dir, tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        sf.write(tmp_path / "in" / f"{name}.wav", noise(1, 48000, seed=ord(name)).T, 48000, subtype="FLOAT")
    (tmp_path / "in" / "broken.wav").write_text("not audio")
    args = [ROOT / "examples" / "batch_dialogue_boost.py", tmp_path / "in", tmp_path / "out", "--checkpoint", parity_dir]
    first = _run(*args)
    assert first.returncode == 1 and "broken.wav" in first.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "b.wav", "manifest.jsonl"]
    assert "-24.0 LUFS" in first.stdout
    second = _run(*args)
    assert second.stdout.count("(done)") == 2 and "0 done, 2 skipped, 1 failed" in second.stdout


def test_python_api_snippet(parity_dir, tmp_path, monkeypatch):
    page = (GUIDE / "python.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    sf.write(tmp_path / "scene.wav", noise(2, 20000).T, 48000, subtype="FLOAT")
    monkeypatch.chdir(tmp_path)
    snippet = snippet.replace('"default"', repr(str(parity_dir)))
    namespace = {}
    exec(compile(snippet, "python.md", "exec"), namespace)  # noqa: S102 - the manual is ours
    assert namespace["stems"].shape == (3, 2, 20000)


def test_pedalboard_snippets_stream_every_sample(tmp_path, monkeypatch):
    """The Chain snippet, then the streaming one: three ways, the same samples, none missing."""
    page = (GUIDE / "python.md").read_text()
    pedalboard = page[page.index("## pedalboard chains"):]
    chain_snippet, stream_snippet = re.findall(r"```python\n(.*?)```", pedalboard, re.S)[:2]
    audio = noise(2, 60000)
    sf.write(tmp_path / "scene.wav", audio.T, 48000, subtype="FLOAT")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(chain_snippet + stream_snippet, "python.md", "exec"), namespace)  # noqa: S102 - the manual is ours
    outputs = [sf.read(tmp_path / name, always_2d=True)[0].T for name in ("scene.out.wav", "scene.out2.wav")]
    outputs.append(sf.read(tmp_path / "scene.out3.wav", always_2d=True)[0].T)
    assert all(out.shape == audio.shape for out in outputs)
    np.testing.assert_allclose(outputs[0], outputs[2], atol=1e-4)  # pedalboard.io writes 16-bit
    np.testing.assert_allclose(outputs[1], outputs[2], atol=1e-4)
    np.testing.assert_allclose(outputs[2], namespace["out"], atol=1e-5)


def test_film_snippet(tmp_path, monkeypatch):
    from tests.film_clips import RATE, packets, soundtrack, write_clip

    page = (GUIDE / "remix.md").read_text()
    films = page[page.index("## Films"):]
    snippet = re.search(r"```python\n(.*?)```", films, re.S).group(1)
    write_clip(tmp_path / "scene.mov", [soundtrack(2.0)], RATE, "pcm_s24le")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, "remix.md", "exec"), namespace)  # noqa: S102 - the manual is ours
    assert namespace["encoding"].describe() == "pcm_s24le (24-bit, lossless)"
    assert packets(tmp_path / "scene.python.mov", "video") == packets(tmp_path / "scene.mov", "video")
    assert (tmp_path / "scene.python.html").read_text().startswith("<!doctype html>")


def test_deliverables_commands(parity_dir, tmp_path):
    """The Deliverables section's commands, as written, on the parity model (quick): timecode kept,
    a 24-bit Broadcast WAV remix and stems, and a spec check."""
    page = (GUIDE / "deliverables.md").read_text()
    commands = [line.partition(" || ")[0]  # what the page does when a spec fails
                for line in re.search(r"```bash\n(.*?)```", page, re.S).group(1).strip().splitlines()]
    tuss_fx = str(Path(sys.executable).parent / "tuss-fx")
    for command in commands:
        program, *args = command.split()
        if program == "python":
            argv = [sys.executable, str(ROOT / args[0]), *args[1:]]
        else:
            argv = [tuss_fx, *args] + (["--checkpoint", str(parity_dir), "--segment-seconds", "1"]
                                       if args[0] == "remix" else [])
        result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert result.returncode in ((0, 3) if args[0] == "loudness" else (0,)), (command, result.stderr)
    with av.open(str(tmp_path / "reel.boosted.mov")) as film:
        assert [s.metadata.get("timecode") for s in film.streams if s.type == "data"] == ["01:00:00:00"]
    from tuss_fx.media.bwf import read_chunks

    for path in [tmp_path / "reel3.dialogue-boost.wav", *(tmp_path / "reel3.stems").glob("*.wav")]:
        assert sf.info(path).subtype == "PCM_24"
        assert read_chunks(path).bext.time_reference == 3600 * 48000
    assert "atsc-a85: " in result.stdout and "streaming: " in result.stdout and "loudness range:" in result.stdout


def test_replace_dialogue_example_places_a_dub_line_by_line(tmp_path):
    """examples/replace_dialogue.py on a real scene (a reading over strings) with the reading itself 9 dB down
    as the dub: it prints the gains it gave each line (about +9 dB: the reading back at the original's level)."""
    from tests.audition_scene import RATE, write_scene

    scene = tmp_path / "scene.wav"
    audio = write_scene(scene, seconds=6.0, speech_at=0.5)
    music, music_rate = sf.read(ROOT / "tuss_fx" / "recordings" / "hungarian-dance-5-strings.ogg", dtype="float32",
                                frames=int(6.0 * 44100) + 4410)
    import soxr

    music = soxr.resample(music, music_rate, RATE)[: audio.shape[1]].T * 0.5 * 10 ** (-6.0 / 20)
    dub = (audio - music) * 10 ** (-9.0 / 20)  # the scene's own reading, recorded 9 dB lower
    sf.write(tmp_path / "dub.wav", dub.T, RATE, subtype="FLOAT")
    result = _run(ROOT / "examples" / "replace_dialogue.py", scene, tmp_path / "dub.wav", tmp_path / "out.wav")
    assert result.returncode == 0, result.stderr
    gains = [float(match) for match in re.findall(r"^line .*: ([+-]\d+\.\d) dB$", result.stdout, re.MULTILINE)]
    assert gains and all(6.0 < gain < 12.0 for gain in gains), result.stdout
    assert sf.info(tmp_path / "out.wav").frames == audio.shape[1]
    missing = _run(ROOT / "examples" / "replace_dialogue.py", scene, tmp_path / "absent.wav", tmp_path / "o2.wav")
    assert missing.returncode == 1 and missing.stderr.strip().endswith("absent.wav: no such file")
