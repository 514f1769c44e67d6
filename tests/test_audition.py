"""tuss-fx audition without a browser: the cache (one pass, atomic, keyed by content), what the session
serves (fold-downs of the exact stems, the preset's real render, saves the preset loader reads) and the
server's refusals (token, Host, Origin, names, body size). The page itself: test_audition_page.py."""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tuss_fx.audition.cache import build_entry, cache_key, open_entry, trim_cache
from tuss_fx.audition.server import MAX_BODY_BYTES, TOKEN_HEADER, AuditionServer
from tuss_fx.audition.session import PREVIEW, Audition, AuditionError
from tuss_fx.cli.commands import main
from tuss_fx.measure.peaks import PeakMeter
from tuss_fx.media.audio_io import probe, read_blocks
from tuss_fx.media.layout import stereo_fold_down
from tuss_fx.media.timecode import ProgrammeClock
from tuss_fx.mix.plan import choose_plan
from tuss_fx.mix.presets import load_preset, parse_preset, preset_text
from tuss_fx.mix.remix import remix_file
from tuss_fx.mix.request import RemixRequest
from tuss_fx.separation.separator import Separator

from tests.audition_scene import RATE, audition_of, write_scene

SPEECH_GAIN_DB, BACKGROUND_GAIN_DB = 7.5, -11.0


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audition")
    path = folder / "scene.wav"
    return path, write_scene(path)


@pytest.fixture(scope="module")
def session(scene, tmp_path_factory) -> Audition:
    return audition_of(scene[0], tmp_path_factory.mktemp("cache"))


# ---- peaks, fold-down, cache ------------------------------------------------------------------------

@pytest.mark.parametrize("num_frames,num_buckets", [(10_000, 7), (12_345, 100), (50, 200)])
def test_peaks_streamed_in_any_blocks_equal_the_whole_signal_reduced(num_frames, num_buckets):
    signal_ = np.random.default_rng(num_frames).standard_normal((2, num_frames)).astype(np.float32)
    meter = PeakMeter(num_frames, num_buckets)
    for start, stop in zip([0, 1, 999, 1000, 4321], [1, 999, 1000, 4321, num_frames]):
        meter.push(signal_[:, start:stop])
    edges = (np.arange(meter.num_buckets + 1) * num_frames + meter.num_buckets - 1) // meter.num_buckets
    expected_min = [signal_[:, a:b].min() for a, b in zip(edges[:-1], edges[1:])]
    expected_max = [signal_[:, a:b].max() for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_array_equal(meter.minima, expected_min)
    np.testing.assert_array_equal(meter.maxima, expected_max)


def test_fold_down_of_5_1_is_bs775_and_mono_plays_on_both_sides():
    fold = stereo_fold_down(("FL", "FR", "FC", "LFE", "BL", "BR"))
    h = 0.7071
    np.testing.assert_allclose(fold, [[1, 0, h, 0, h, 0], [0, 1, h, 0, 0, h]], atol=1e-6)
    np.testing.assert_array_equal(stereo_fold_down(("FC",)), [[1.0], [1.0]])


def test_cache_holds_the_separation_and_is_found_by_content(session, scene, tmp_path):
    path, audio = scene
    entry = session.entry
    assert entry.stem_names == ["speech"]
    separator = Separator.from_pretrained("default", device="cpu")
    regions = list(separator.separate_regions([audio], RATE, 2, audio.shape[1], ("speech",)))
    expected = np.concatenate([stems for _, stems in regions], axis=2)
    np.testing.assert_array_equal(entry.read_stems(0, audio.shape[1]), expected)
    key = cache_key(probe(path), separator, ("speech",), [0, 1])
    assert open_entry(key, ["speech"], entry.folder.parent).folder == entry.folder
    moved = tmp_path / "renamed.wav"
    moved.write_bytes(path.read_bytes())
    assert cache_key(probe(moved), separator, ("speech",), [0, 1]) == key  # content, not name
    changed = tmp_path / "changed.wav"
    sf.write(changed, audio.T * 0.5, RATE, subtype="PCM_24")
    assert cache_key(probe(changed), separator, ("speech",), [0, 1]) != key
    assert cache_key(probe(path), separator, ("speech", "sfxbg"), [0, 1]) != key


def test_an_interrupted_build_leaves_no_entry_and_no_temporary(scene, tmp_path):
    separator = Separator.from_pretrained("default", device="cpu")
    info = probe(scene[0])

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_entry("k", separator, info, ("speech",), ["speech"], None, interrupt, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_trim_removes_least_recently_opened_entries_first(tmp_path):
    for index, name in enumerate(["old", "mid", "new"]):
        (tmp_path / name / "stems").mkdir(parents=True)
        (tmp_path / name / "stems" / "speech.wav").write_bytes(b"x" * 1000)
        (tmp_path / name / "entry.json").write_text("{}")
        os.utime(tmp_path / name / "entry.json", (1000 + index, 1000 + index))
    removed = trim_cache(2100, keep=tmp_path / "old", root=tmp_path)
    assert [p.name for p in removed] == ["mid"]  # "old" is the one being auditioned: kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]


# ---- the session: what the page hears -------------------------------------------------------------

def test_each_source_is_the_stems_fold_down_and_the_rest_closes_the_sum(session, scene):
    _, audio = scene
    first, count = 12_000, 48_000
    stems = session.entry.read_stems(first, count)
    np.testing.assert_array_equal(session.listen("original", first, count), audio[:, first:first + count])
    np.testing.assert_array_equal(session.listen("speech", first, count), stems[0])
    np.testing.assert_allclose(session.listen("background", first, count), audio[:, first:first + count] - stems[0],
                               atol=1e-7)
    for name in ("../entry.json", "/etc/passwd", "stems/speech.wav", PREVIEW):
        with pytest.raises(KeyError):
            session.listen(name, first, count)
    for bad in [(-1, 10), (0, 0), (audio.shape[1] - 5, 10), (0, 301 * RATE)]:
        with pytest.raises(AuditionError):
            session.listen("speech", *bad)


def test_the_loudness_the_page_matches_is_pyloudnorm_s(session, scene):
    """The page's loudness-matched A/B applies the gain between these two numbers: each is checked against
    pyloudnorm (BS.1770, the reference implementation) on signals built here from the files themselves."""
    import pyloudnorm

    first, count = 24_000, 5 * RATE
    gains = {"speech": 5.0, "background": -5.0}
    measured = session.loudness(first, count, gains)
    original = scene[1][:, first:first + count].astype(np.float64)
    speech = sf.read(session.entry.stem_path("speech"), start=first, frames=count, dtype="float64",
                     always_2d=True)[0].T
    mix = 10 ** (5.0 / 20) * speech + 10 ** (-5.0 / 20) * (original - speech)
    meter = pyloudnorm.Meter(RATE)
    assert measured["original_lufs"] == pytest.approx(meter.integrated_loudness(original.T), abs=0.05)
    assert measured["mix_lufs"] == pytest.approx(meter.integrated_loudness(mix.T), abs=0.05)
    assert abs(measured["mix_lufs"] - measured["original_lufs"]) > 1.0  # a gain worth matching


def test_default_region_is_the_most_buried_stretch_with_its_lead_in(session):
    worst = session.entry.clarity().worst_regions(1)[0]
    start, end = session.default_region()
    assert start == pytest.approx(max(0.0, worst.start_seconds - 3.0)) and end >= worst.end_seconds


def test_preview_is_the_presets_remix_of_the_region(session, scene, tmp_path):
    """Without chains or a loudness target, the preset's render is the faders' sum exactly; with the
    whole dialogue-boost (chains, -24 LUFS, ceiling) it is what remix_file writes for the same region."""
    first, count = 24_000, 4 * RATE
    gains = {"speech": SPEECH_GAIN_DB, "background": BACKGROUND_GAIN_DB}
    plain = audition_of(scene[0], tmp_path / "cache", preset=str(_plain_preset(tmp_path)))
    plain.render_preview(first, count, gains)
    speech = plain.listen("speech", first, count)
    background = plain.listen("background", first, count)
    expected = 10 ** (SPEECH_GAIN_DB / 20) * speech + 10 ** (BACKGROUND_GAIN_DB / 20) * background
    np.testing.assert_allclose(plain.listen(PREVIEW, first, count), expected, atol=1e-6)

    rendered = session.render_preview(first, count, gains)
    assert rendered["output_lufs"] == pytest.approx(-24.0, abs=0.3) and "+7.5 dB" in rendered["gains"]["speech"]
    excerpt = tmp_path / "excerpt.wav"
    sf.write(excerpt, scene[1][:, first:first + count].T, RATE, subtype="FLOAT")
    saved = session.save(gains, "excerpt-preset.toml")
    remix_file(_CachedReplay(session, first), load_preset(saved["preset"]), excerpt, tmp_path / "remix.wav")
    written, _ = sf.read(tmp_path / "remix.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(session.listen(PREVIEW, first, count), written.T, atol=1e-6)


def test_preview_is_the_whole_programme_s_remix_cut_to_the_region_but_for_its_loudness(session, scene, tmp_path):
    """What the manual says of the preview: against a remix of the whole file cut to the region, it differs
    by one gain (the loudness target measured on the region, not the programme) and, in its first tenth of
    a second, by the chains' state (a compressor starting cold); elsewhere it is the same within -90 dB."""
    first, count = 24_000, 4 * RATE
    gains = {"speech": SPEECH_GAIN_DB, "background": BACKGROUND_GAIN_DB}
    rendered = session.render_preview(first, count, gains)
    saved = session.save(gains, "whole-preset.toml")
    whole_report = remix_file(_CachedReplay(session, 0), load_preset(saved["preset"]), scene[0], tmp_path / "whole.wav")
    whole, _ = sf.read(tmp_path / "whole.wav", dtype="float64", always_2d=True)
    region = whole.T[:, first:first + count]
    preview = session.listen(PREVIEW, first, count).astype(np.float64)
    gain = 10 ** ((rendered["loudness_gain_db"] - whole_report.loudness_gain_db) / 20)
    assert abs(20 * np.log10(gain)) > 0.5  # the region's loudness is not the programme's

    def error_db(lo_seconds, hi_seconds):
        lo, hi = int(lo_seconds * RATE), int(hi_seconds * RATE)
        residual = preview[:, lo:hi] - gain * region[:, lo:hi]
        return 10 * np.log10((residual ** 2).sum() / (preview[:, lo:hi] ** 2).sum())

    assert error_db(0.0, 0.1) < -50  # the chains warming up
    assert error_db(0.1, 4.0) < -90


class _CachedReplay:
    """The cached stems of the excerpt in place of a separator for remix_file, so the remix of the excerpt
    file and the preview see the same stems (a fresh separation of an excerpt starts its engine cold)."""

    def __init__(self, session, first):
        from tuss_fx.audition.cache import CachedSeparation

        self._cached = CachedSeparation(session.entry, first, "default", "deepfilternet")
        self.prompts, self.name, self.dialogue_engine = ("speech", "sfxbg", "musicbg"), "default", "deepfilternet"
        self.stem_split = Separator.from_pretrained("default", device="cpu").stem_split

    def separate_regions(self, *args, **kwargs):
        return self._cached.separate_regions(*args, **kwargs)


def _plain_preset(folder):
    path = folder / "plain.toml"
    path.write_text('name = "plain"\nprompts = ["speech", "sfxbg", "musicbg"]\n[background]\ngain_db = -5.0\n')
    return path


def test_save_writes_the_loaded_preset_with_the_new_gains_and_refuses_to_overwrite(session, tmp_path):
    session.save_path = tmp_path / "tuned.toml"
    saved = session.save({"speech": 3.5, "background": "-inf"}, automation=True)
    text = (tmp_path / "tuned.toml").read_text()
    preset = parse_preset(tomllib.loads(text), "tuned.toml")
    assert preset.name == "tuned" and preset.stem("speech").gain_db == 3.5 and preset.background.gain_db == -math.inf
    assert preset.stem("speech").chain == load_preset("dialogue-boost").stem("speech").chain  # the rest kept
    assert "# dialogue-boost: make dialogue easier" in text  # the preset's own comments kept
    assert saved["automation"] == str(tmp_path / "tuned.mid") and (tmp_path / "tuned.mid").stat().st_size > 0
    assert saved["commands"][0] == f"tuss-fx remix {session.info.path} --preset {tmp_path / 'tuned.toml'} " \
                                   f"--automation {tmp_path / 'tuned.mid'}"
    with pytest.raises(AuditionError, match="exists already"):
        session.save({"speech": 0.0})
    assert (tmp_path / "tuned.toml").read_text() == text
    session.save({"speech": 0.0}, overwrite=True)
    assert load_preset(tmp_path / "tuned.toml").stem("speech").gain_db == 0.0
    for name in ("../escape.toml", "/tmp/abs.toml", "x.txt", ".hidden.toml"):
        with pytest.raises(AuditionError):
            session.save({"speech": 0.0}, name)
    for gains in ({"speech": 30.0}, {"music": 1.0}, {"speech": "loud"}, {"speech": True}):
        with pytest.raises(AuditionError):
            session.save(gains, "other.toml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned.mid", "tuned.toml"]


def test_stems_plan_serves_every_stem_and_the_residual(scene, tmp_path, parity_model):
    separator = Separator(parity_model, device="cpu", segment_seconds=1.0, dialogue_engine="tuss")
    short = tmp_path / "short.wav"
    sf.write(short, scene[1][:, : RATE * 2].T, RATE, subtype="FLOAT")
    stems = audition_of(short, tmp_path / "cache", "dme", separator, plan="stems")
    assert stems.sources == ["speech", "sfxbg", "musicbg", "residual"]
    parts = sum(stems.listen(name, 0, RATE) for name in stems.sources)
    np.testing.assert_allclose(parts, stems.listen("original", 0, RATE), atol=1e-5)
    stems.save_path = tmp_path / "dme-tuned.toml"
    stems.save({"musicbg": -9.0, "residual": -1.0})
    preset = load_preset(tmp_path / "dme-tuned.toml")
    assert preset.stem("musicbg").gain_db == -9.0 and preset.stem("residual").gain_db == -1.0


def test_a_region_of_a_two_hour_programme_reads_only_that_region(tmp_path):
    """Two hours at 1 kHz (the lowest rate tuss-fx reads, so the file stays small) with a cached stem; a
    minute's region is served by seeking, reading about a minute's bytes, not the programme's."""
    rate, frames = 1000, 2 * 3600 * 1000
    path = tmp_path / "feature.wav"
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        for _ in range(frames // 600_000):
            handle.write(np.full(600_000, 0.25, dtype=np.float32))
    (tmp_path / "entry" / "stems").mkdir(parents=True)
    with sf.SoundFile(tmp_path / "entry" / "stems" / "speech.wav", "w", rate, 1, subtype="FLOAT") as handle:
        for _ in range(frames // 600_000):
            handle.write(np.full(600_000, 0.125, dtype=np.float32))
    from tuss_fx.audition.cache import CacheEntry

    preset = load_preset("dialogue-boost")
    plan = choose_plan(preset, Separator.from_pretrained("default", device="cpu"))
    entry = CacheEntry(tmp_path / "entry", {"stems": ["speech"], "prompts": ["speech"]})
    feature = Audition(probe(path), plan, entry, ProgrammeClock(), "dialogue-boost", preset_text("dialogue-boost")[1],
                       tmp_path / "x.toml")
    before = _bytes_read()
    background = feature.listen("background", 3600 * rate, 60 * rate)
    read = _bytes_read() - before
    np.testing.assert_allclose(background, 0.125, atol=1e-4)
    assert read < 2_000_000, f"{read} bytes read for a minute of a {path.stat().st_size}-byte programme"


def _bytes_read() -> int:
    """Bytes this process has read through read() calls (Linux /proc; page-cache hits count too)."""
    for line in open("/proc/self/io"):
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


# ---- the server: refusals ----------------------------------------------------------------------------

@pytest.fixture()
def server(session, tmp_path):
    session.save_path = tmp_path / "served.toml"
    served = AuditionServer(session)
    thread = threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def _request(server, method, path, host=None, token=True, origin=True, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    sent = {"Host": host or f"127.0.0.1:{server.port}", **(headers or {})}
    if token:
        sent[TOKEN_HEADER] = server.token if token is True else token
    if origin:
        sent["Origin"] = origin if isinstance(origin, str) else f"http://127.0.0.1:{server.port}"
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    connection.request(method, path, body=payload, headers=sent)
    response = connection.getresponse()
    return response.status, response.getheaders(), response.read()


def test_the_token_travels_in_the_fragment_and_the_page_holds_none(server):
    """The URL's fragment is never sent to a server; the page's files are the same for anyone and set no
    cookie (a cookie of 127.0.0.1 would go to every port of it)."""
    assert server.url == f"http://127.0.0.1:{server.port}/#token={server.token}"
    status, headers, page = _request(server, "GET", "/", token=False, origin=False)
    assert status == 200 and b'type="module" src="/audition.js"' in page
    assert server.token.encode() not in page and "Set-Cookie" not in dict(headers)
    assert dict(headers)["Content-Security-Policy"].startswith("default-src 'self'")
    assert b"http" not in page.split(b"<body>")[0].replace(b"http-equiv", b"")  # nothing from elsewhere


@pytest.mark.parametrize("path", ["/api/overview", "/api/audio/speech?start=0&frames=100"])
def test_every_read_of_the_api_needs_the_token_and_a_local_host(server, path):
    assert _request(server, "GET", path)[0] == 200
    assert _request(server, "GET", path, token=False)[0] == 403
    assert _request(server, "GET", path, token="wrong")[0] == 403
    cookie = {"Cookie": f"tuss_fx_audition_{server.port}={server.token}"}  # the old scheme's cookie opens nothing
    assert _request(server, "GET", path, token=False, headers=cookie)[0] == 403
    assert _request(server, "GET", f"{path}{'&' if '?' in path else '?'}token={server.token}", token=False)[0] == 403
    for host in ("evil.example:80", f"evil.example:{server.port}", "127.0.0.1:1", f"localhost.evil:{server.port}"):
        assert _request(server, "GET", path, host=host)[0] == 403
    for host in (f"localhost:{server.port}", f"[::1]:{server.port}"):
        assert _request(server, "GET", path, host=host)[0] == 200


def test_the_page_s_files_are_served_under_a_local_host_only(server):
    for path in ("/", "/audition.js"):
        assert _request(server, "GET", path, token=False)[0] == 200
        assert _request(server, "GET", path, token=False, host=f"evil.example:{server.port}")[0] == 403


def test_a_change_needs_token_header_and_own_origin_and_changes_nothing_otherwise(server, session):
    body = {"gains_db": {"speech": 1.0}, "name": "attack.toml"}
    target = session.save_path.parent / "attack.toml"
    refused = [dict(token=False), dict(token="wrong"), dict(origin=False), dict(origin="http://evil.example"),
               dict(origin=f"http://127.0.0.1:{server.port + 1}"), dict(origin="null"),
               dict(host=f"evil.example:{server.port}")]
    for case in refused:
        assert _request(server, "POST", "/api/save", body=body, **case)[0] == 403, case
    assert not target.exists()
    assert _request(server, "POST", "/api/preview", token=False,
                    body={"start": 0, "frames": 100, "gains_db": {}})[0] == 403
    assert session._preview is None or session._preview[1] != 100
    status, _, answer = _request(server, "POST", "/api/save", body=body)
    assert status == 200 and json.loads(answer)["preset"] == str(target) and target.exists()


def test_names_never_reach_the_file_system_and_bodies_are_capped(server):
    for name in ("..%2Fentry.json", "../entry.json", "%2Fetc%2Fpasswd", "/etc/passwd", "stems%2Fspeech.wav",
                 "speech.wav", "..%2F..%2Fscene.wav"):
        assert _request(server, "GET", f"/api/audio/{name}?start=0&frames=100")[0] == 404, name
    assert _request(server, "GET", "/../../etc/passwd")[0] == 404
    big = b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}"
    assert _request(server, "POST", "/api/save", body=big, headers={"Content-Type": "application/json"})[0] == 413
    assert _request(server, "POST", "/api/save", body=b"[1]")[0] == 400


def test_a_source_arrives_as_planar_float32_of_the_region(server, session):
    status, _, payload = _request(server, "GET", "/api/audio/speech?start=4800&frames=960")
    audio = np.frombuffer(payload, dtype="<f4").reshape(2, 960)
    np.testing.assert_array_equal(audio, session.listen("speech", 4800, 960))


# ---- the command -----------------------------------------------------------------------------------

def test_bad_input_or_preset_is_one_line_before_any_page(tmp_path):
    runner = CliRunner()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    for args, named in ([str(broken)], "broken.wav"), ([str(tmp_path / "missing.wav")], "missing.wav"):
        result = runner.invoke(main, ["audition", *args, "--no-browser"])
        assert result.exit_code == 1 and named in result.output and "http://" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros((RATE, 2), dtype=np.float32), RATE)
    bad_preset = tmp_path / "bad.toml"
    bad_preset.write_text('name = "bad"\nprompts = ["speech"]\n[stems.speech]\ngain_db = "loud"\n')
    result = runner.invoke(main, ["audition", str(good), "--preset", str(bad_preset), "--no-browser"])
    assert result.exit_code == 1 and "stems.speech.gain_db" in result.output and "http://" not in result.output
    long_dub = tmp_path / "long.wav"
    sf.write(long_dub, np.zeros(2 * RATE, dtype=np.float32), RATE)
    for replace, named in ((f"speech={tmp_path / 'none.wav'}", "none.wav: no such file"),
                           (f"speech={long_dub}", "long.wav: is 96000 samples")):
        result = runner.invoke(main, ["audition", str(good), "--replace", replace, "--no-browser"])
        assert result.exit_code == 1 and named in result.output and "http://" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_the_command_prints_its_url_first_uses_the_cache_and_stops_cleanly_on_sigterm(scene, tmp_path):
    environment = {**os.environ, "TUSS_FX_HOME": str(tmp_path / "home")}

    def run_until_ready():
        process = subprocess.Popen([str(Path(sys.executable).with_name("tuss-fx")), "audition", str(scene[0]), "--no-browser",
                                    "--save", str(tmp_path / "saved.toml")], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path)
        url = process.stdout.readline().strip()
        return process, url

    first, url = run_until_ready()
    assert url.startswith("http://127.0.0.1:") and "/#token=" in url
    import socket

    idle = socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])))  # as browsers keep spares
    stopping = time.monotonic()
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert time.monotonic() - stopping < 10  # not held until the idle connection times out (60 s)
    idle.close()
    assert "separated in" in err and "stopped" in err
    second, url = run_until_ready()
    os.kill(second.pid, signal.SIGINT)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0 and "stems from the cache" in err, err
    leftovers = [p for p in (tmp_path / "home").rglob("*") if ".part" in p.name]
    assert leftovers == [] and not (tmp_path / "saved.toml").exists()


def test_a_film_is_auditioned_on_its_own_timecode(scene, tmp_path):
    from tests.film_clips import write_clip

    film = tmp_path / "reel.mov"
    write_clip(film, [scene[1][:, : 3 * RATE]], RATE, subtitle=None, timecode="01:00:00:00", frame_rate=25)
    session = audition_of(film, tmp_path / "cache")
    assert session.overview()["clock"] == {"start_seconds": 3600.0, "frame_rate": [25, 1], "drop_frame": False}
    assert session.clock.label(1.0) == "01:00:01:00"
    decoded = np.concatenate(list(read_blocks(probe(film))), axis=1)
    np.testing.assert_array_equal(session.listen("original", RATE, RATE // 2), decoded[:, RATE:RATE + RATE // 2])


def test_a_5_1_programme_is_heard_folded_to_stereo_and_rendered_in_its_layout(scene, tmp_path):
    left, right = scene[1][:, : 2 * RATE]
    lfe = 0.1 * np.sin(2 * np.pi * 40 * np.arange(left.size) / RATE).astype(np.float32)
    surround = np.stack([left, right, 0.5 * (left + right), lfe, 0.3 * left, 0.3 * right])
    path = tmp_path / "mix51.wav"
    sf.write(path, surround.T, RATE, subtype="FLOAT")
    session = audition_of(path, tmp_path / "cache")
    layout = probe(path).channel_layout
    np.testing.assert_allclose(session.listen("original", 0, RATE), stereo_fold_down(layout) @ surround[:, :RATE],
                               atol=1e-6)
    stems = session.entry.read_stems(0, 2 * RATE)
    assert stems.shape == (1, 6, 2 * RATE)  # the stems keep the layout
    front = [layout.index(name) for name in ("FL", "FR", "FC")]
    rest = [index for index in range(6) if index not in front]  # LFE and surrounds: never separated
    assert all(np.abs(stems[0, index]).max() > 1e-3 for index in front)
    assert not stems[0, rest].any()
    session.render_preview(0, RATE, {"speech": 0.0, "background": 0.0})
    assert session.listen(PREVIEW, 0, RATE).shape == (2, RATE)
    # rendered in its layout, channel by channel: a plain preset's remix is each channel's own gain sum
    plain = audition_of(path, tmp_path / "cache", preset=str(_plain_preset(tmp_path)))
    saved = plain.save({"speech": 6.0, "background": -4.0}, "plain-51.toml")
    replay = _CachedReplay(plain, 0)
    replay.prompts = ("speech",)
    remix_file(replay, load_preset(saved["preset"]), path, RemixRequest(tmp_path / "mix51.out.wav", "wav32f"))
    written, _ = sf.read(tmp_path / "mix51.out.wav", dtype="float32", always_2d=True)
    written = written.T
    assert written.shape == (6, 2 * RATE)
    for channel, name in enumerate(layout):
        expected = 10 ** (6.0 / 20) * stems[0, channel] + 10 ** (-4.0 / 20) * (surround[channel] - stems[0, channel])
        np.testing.assert_allclose(written[channel], expected, atol=1e-5, err_msg=name)


def test_the_dbr_lane_is_the_loudness_analysis_of_the_cached_stems(session, scene):
    """The lane the page shades is `dialogue_clarity` over the programme, its dialogue and its background
    where the speech detector hears speech, here metered the usual way: three meters each filtering its own
    signal, the detector given the whole signals at once."""
    from tuss_fx.measure.dbr import dialogue_clarity
    from tuss_fx.measure.loudness import LoudnessMeter

    from tuss_fx.measure.speech import SpeechPresence

    _, audio = scene
    dialogue = session.entry.read_stems(0, audio.shape[1])[0]
    meters = [LoudnessMeter(RATE, 2, 0.1) for _ in range(3)]
    for meter, signal_ in zip(meters, (audio, dialogue, audio - dialogue)):
        meter.push(signal_)
    speech = SpeechPresence(RATE, 2)
    speech.push(audio, dialogue)
    speech.finish()
    expected = dialogue_clarity(*meters, speech=speech.windows(80, 0.1))
    lane = session.entry.clarity()
    np.testing.assert_array_equal(lane.dialogue, expected.dialogue)
    finite = np.isfinite(expected.dbr_lu)
    np.testing.assert_array_equal(np.isfinite(lane.dbr_lu), finite)
    np.testing.assert_allclose(lane.dbr_lu[finite], expected.dbr_lu[finite], atol=0.006)  # kept to 0.01 LU
    assert lane.buried.any() and session.overview()["clarity"]["regions"]
