"""No other user or site can drive the audition (issue #48): what the browser is handed, requests no page of
ours would send (non-ASCII tokens, non-finite numbers, lying lengths, slow and idle connections), resources
bounded, saves that cannot inject keys or replace other files, presets that cannot read other files or
load native code, and a cache root only this user can write."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tuss_fx.audition import server as server_module
from tuss_fx.audition.cache import open_entry
from tuss_fx.audition.server import TOKEN_HEADER, AuditionServer
from tuss_fx.audition.session import AuditionError
from tuss_fx.mix.presets import PresetError, load_preset
from tuss_fx.separation import models

from tests.audition_scene import RATE, audition_of, write_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("hardening") / "scene.wav"
    write_scene(path)
    return path


@pytest.fixture(scope="module")
def session(scene, tmp_path_factory):
    return audition_of(scene, tmp_path_factory.mktemp("cache"))


@pytest.fixture()
def server(session, tmp_path):
    session.save_path = tmp_path / "served.toml"
    served = AuditionServer(session)
    threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True).start()
    yield served
    served.shutdown()
    served.server_close()


def _post(server, path: str, payload: bytes, headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    sent = {"Host": f"127.0.0.1:{server.port}", TOKEN_HEADER: server.token,
            "Origin": f"http://127.0.0.1:{server.port}", "Content-Type": "application/json", **(headers or {})}
    connection.request("POST", path, body=payload, headers=sent)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def _raw(server, data: bytes, read: bool = True) -> bytes:
    """Send bytes as they are (headers no client library would send) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while read and (chunk := connection.recv(65536)):
            answer += chunk
    return answer


# ---- the browser is never handed the token ----------------------------------------------------------------

def test_the_browser_is_handed_a_private_file_never_the_token(scene, tmp_path):
    """$BROWSER is a program that records its arguments and the file it is given, as a browser would read
    it; the audition stops once it has been called."""
    record = tmp_path / "browser.json"
    recorder = tmp_path / "browser.py"
    recorder.write_text(
        "import json, os, stat, sys\n"
        "from urllib.parse import urlsplit, unquote\n"
        "page = unquote(urlsplit(sys.argv[1]).path)\n"
        "json.dump({'argv': sys.argv, 'text': open(page).read(), 'mode': stat.S_IMODE(os.stat(page).st_mode),\n"
        "           'folder_mode': stat.S_IMODE(os.stat(os.path.dirname(page)).st_mode), 'page': page},\n"
        "          open(sys.argv[2], 'w'))\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {recorder} %s {record}",
           "TUSS_FX_HOME": str(tmp_path / "home")}
    process = subprocess.Popen([str(Path(sys.executable).with_name("tuss-fx")), "audition", str(scene), "--save",
                                str(tmp_path / "s.toml")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=tmp_path)
    url = process.stdout.readline().strip()
    deadline = time.monotonic() + 120
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)  # the recorder finishes writing
    process.terminate()
    process.communicate(timeout=60)
    token = url.split("#token=")[1]
    seen = json.loads(record.read_text())
    assert len(token) >= 40 and not [arg for arg in seen["argv"] if token in arg]
    assert seen["argv"][1].startswith("file://")
    assert url in seen["text"]  # the file forwards to the page
    assert seen["mode"] == 0o600 and seen["folder_mode"] == 0o700
    assert not Path(seen["page"]).exists() and not Path(seen["page"]).parent.exists()  # gone with the audition


# ---- requests no page of ours sends ---------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["é", "\u00ff" * 43, "x" * 10_000])
def test_any_token_header_is_a_refusal_not_a_dropped_connection(server, token):
    head = (f"GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n").encode()
    answer = _raw(server, head + f"{TOKEN_HEADER}: ".encode() + token.encode("utf-8") + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 403") and b'"error"' in answer


def test_a_non_ascii_token_in_the_query_gets_the_page_not_a_traceback(server, caplog):
    caplog.set_level(logging.ERROR, logger="tuss_fx.audition")
    answer = _raw(server, f"GET /?token=%C3%A9 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.0 200") and not caplog.records


@pytest.mark.parametrize("body", [b'{"start": Infinity, "frames": 100, "gains_db": {}}',
                                  b'{"start": NaN, "frames": 100, "gains_db": {}}',
                                  b'{"start": 1e400, "frames": 100, "gains_db": {}}',
                                  b'{"start": 0, "frames": 100, "gains_db": {"speech": 1e400}}',
                                  b'{"start": 0, "frames": 100, "gains_db": {"speech": -1e400}}',
                                  b'{"start": 0, "frames": 1' + b"0" * 400 + b', "gains_db": {}}',
                                  b'{"start": 0, "frames": 100, "gains_db": {"speech": 1' + b"0" * 400 + b'}}',
                                  b'{"start": 0.5, "frames": 100, "gains_db": {}}',
                                  b'{"x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"])
@pytest.mark.parametrize("path", ["/api/loudness", "/api/preview"])
def test_non_finite_huge_or_deep_numbers_are_a_400(server, caplog, body, path):
    caplog.set_level(logging.ERROR, logger="tuss_fx.audition")
    status, answer = _post(server, path, body)
    assert status == 400 and answer["error"] and not caplog.records


@pytest.mark.parametrize("query", ["start=nan&frames=100", "start=0&frames=inf", "start=0&frames=" + "9" * 30,
                                   "start=-1&frames=100", "start=0&frames=0", "start=0",
                                   f"start=0&frames={301 * RATE}"])
def test_regions_outside_the_programme_or_not_numbers_are_a_400(server, query):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", f"/api/audio/speech?{query}", headers={"Host": f"127.0.0.1:{server.port}",
                                                                     TOKEN_HEADER: server.token})
    assert connection.getresponse().status == 400


def test_an_unplanned_error_is_a_json_500_and_one_log_line(server, session, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="tuss_fx.audition")
    monkeypatch.setattr(session, "overview", lambda: 1 / 0)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", "/api/overview", headers={"Host": f"127.0.0.1:{server.port}", TOKEN_HEADER: server.token})
    response = connection.getresponse()
    assert response.status == 500 and "internal error" in json.loads(response.read())["error"]
    assert [record.getMessage() for record in caplog.records] == ["GET /api/overview: ZeroDivisionError: division by zero"]


def test_missing_negative_and_lying_lengths(server, session):
    head = (f"POST /api/save HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{TOKEN_HEADER}: {server.token}\r\n"
            f"Origin: http://127.0.0.1:{server.port}\r\n")
    body = b'{"gains_db": {}, "name": "lying.toml"}'
    assert _raw(server, head.encode() + b"\r\n" + body).startswith(b"HTTP/1.0 411")
    assert _raw(server, head.encode() + b"Content-Length: -5\r\n\r\n" + body).startswith(b"HTTP/1.0 413")
    short = _raw(server, head.encode() + f"Content-Length: {len(body) + 50}\r\n\r\n".encode() + body)
    assert short.startswith(b"HTTP/1.0 400") and b"ended after" in short
    assert not (session.save_path.parent / "lying.toml").exists()


@pytest.mark.parametrize("name", ["../escape.toml", "..%2Fescape.toml", "/tmp/escape.toml", "sub/escape.toml",
                                  "escape.toml\n", ".hidden.toml", "escape.txt", "C:\\escape.toml"])
def test_a_save_name_never_leaves_the_save_folder(server, session, tmp_path, name):
    status, answer = _post(server, "/api/save", json.dumps({"gains_db": {}, "name": name}).encode())
    assert status == 400 and "a preset name is" in answer["error"]
    assert session.save_path.parent == tmp_path and not list(tmp_path.rglob("*escape*"))
    assert not Path("/tmp/escape.toml").exists() and not (tmp_path.parent / "escape.toml").exists()


# ---- resources ----------------------------------------------------------------------------------------------

def test_slow_and_idle_connections_are_closed_at_their_deadline(session, monkeypatch):
    monkeypatch.setattr(server_module, "REQUEST_DEADLINE_SECONDS", 1.0)
    served = AuditionServer(session)
    threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True).start()
    try:
        idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(server_module.MAX_CONNECTIONS)]
        slow = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        began = time.monotonic()
        for byte in b"GET / HTTP/1.1\r\n":  # one byte at a time, each within the per-read wait
            try:
                slow.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.3)
        assert slow.recv(100) == b"" and time.monotonic() - began < 4  # closed at the deadline, not answered
        time.sleep(0.2)
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        connection.request("GET", "/api/overview", headers={"Host": f"127.0.0.1:{served.port}",
                                                            TOKEN_HEADER: served.token})
        assert connection.getresponse().status == 200  # the idle ones no longer hold the connection slots
        for sock in idle:
            sock.close()
    finally:
        stopping = time.monotonic()
        served.shutdown()
        served.server_close()
        assert time.monotonic() - stopping < 5


def test_connections_past_the_cap_are_refused_and_a_stop_closes_the_rest(session):
    served = AuditionServer(session)
    threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True).start()
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(server_module.MAX_CONNECTIONS)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    assert extra.recv(100) == b""  # closed at once, no thread started for it
    stopping = time.monotonic()
    served.shutdown()
    served.server_close()  # joins the request threads: the idle ones are shut down, not waited for
    assert time.monotonic() - stopping < 5
    for sock in [*idle, extra]:
        sock.close()


def test_audio_reads_run_two_at_a_time(server, session, monkeypatch):
    running, most, lock = [0], [0], threading.Lock()
    real_listen = session.listen

    def counted(name, start, frames):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return real_listen(name, start, frames)

    monkeypatch.setattr(session, "listen", counted)

    def fetch(_):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request("GET", "/api/audio/speech?start=0&frames=480",
                           headers={"Host": f"127.0.0.1:{server.port}", TOKEN_HEADER: server.token})
        return connection.getresponse().status

    threads = [threading.Thread(target=lambda i=i: statuses.append(fetch(i))) for i in range(6)]
    statuses: list[int] = []
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6 and most[0] == server_module.MAX_AUDIO_READS


def test_a_source_reads_only_what_it_is_made_of(session, monkeypatch):
    """One stem is read alone: neither the input nor the other stems (a 5.1 region of each is 350 MB)."""
    expected = session.entry.read_stem("speech", 4800, 960)
    monkeypatch.setattr(type(session.entry), "read_stems", lambda *a: pytest.fail("read every stem"))
    monkeypatch.setattr(type(session), "_read_mixture", lambda *a: pytest.fail("read the input"))
    np.testing.assert_array_equal(session.listen("speech", 4800, 960), session.fold @ expected)


# ---- saves --------------------------------------------------------------------------------------------------

def test_a_file_name_cannot_write_keys_into_the_saved_preset(tmp_path):
    name = "ep104\nride.max_reduction_db = 40\nride.target_lu = 40\n#.wav"
    path = tmp_path / name
    write_scene(path, seconds=3.0)
    session = audition_of(path, tmp_path / "cache", save_path=tmp_path / "tuned.toml")
    session.save({"speech": 4.0}, "tuned.toml")
    saved = load_preset(tmp_path / "tuned.toml")
    loaded = load_preset("dialogue-boost")
    assert saved.ride == loaded.ride
    expected_stems = {**loaded.stems, "speech": replace(loaded.stem("speech"), gain_db=4.0)}
    assert saved == replace(loaded, name="tuned", source=str(tmp_path / "tuned.toml"), stems={
        name: expected_stems.get(name, saved.stems[name]) for name in saved.stems})
    assert "\\n" in (tmp_path / "tuned.toml").read_text().splitlines()[0]  # the newline, escaped, in the comment


def test_a_save_replaces_only_a_preset(session, tmp_path):
    session.save_path = tmp_path / "tuned.toml"
    project = tmp_path / "pyproject.toml"
    project.write_text('[project]\nname = "mine"\n')
    with pytest.raises(AuditionError, match="is not a tuss-fx preset"):
        session.save({"speech": 1.0}, "pyproject.toml", overwrite=True)
    assert project.read_text() == '[project]\nname = "mine"\n'
    session.save({"speech": 1.0}, "tuned.toml")
    session.save({"speech": 2.0}, "tuned.toml", overwrite=True)  # a preset: replaced
    assert load_preset(tmp_path / "tuned.toml").stem("speech").gain_db == 2.0
    (tmp_path / "notes.mid").write_text("my notes")
    (tmp_path / "notes.toml").write_text((tmp_path / "tuned.toml").read_text())
    with pytest.raises(AuditionError, match="is not a MIDI file"):
        session.save({"speech": 3.0}, "notes.toml", overwrite=True, automation=True)
    assert (tmp_path / "notes.mid").read_text() == "my notes"


# ---- presets name effects from an allow-list, and files beside them ----------------------------------------

def _preset(folder: Path, chain: str) -> Path:
    path = folder / "p.toml"
    path.write_text(f'name = "p"\nprompts = ["speech"]\n[stems.speech]\nchain = [{chain}]\n')
    return path


@pytest.mark.parametrize("plugin", ["VST3Plugin", "ExternalPlugin", "AudioUnitPlugin", "Pedalboard", "Plugin"])
def test_a_preset_cannot_name_a_host_or_a_container(tmp_path, plugin):
    with pytest.raises(PresetError, match=f"unknown plugin '{plugin}'"):
        load_preset(_preset(tmp_path, f'{{ plugin = "{plugin}", path_to_plugin_file = "/x" }}'))


def test_an_impulse_response_is_read_from_beside_the_preset_only(tmp_path, monkeypatch):
    folder = tmp_path / "show"
    (folder / "irs").mkdir(parents=True)
    impulse = np.zeros((1, 480), np.float32)
    impulse[0, 0] = 1.0
    sf.write(folder / "irs" / "room.wav", impulse.T, RATE, subtype="FLOAT")
    sf.write(tmp_path / "secret.wav", impulse.T, RATE, subtype="FLOAT")
    monkeypatch.chdir(tmp_path)  # a relative path is the preset's folder's, not the working one's
    preset = load_preset(_preset(folder, '{ plugin = "Convolution", impulse_response_filename = "irs/room.wav" }'))
    assert preset.stem("speech").chain[0].params["impulse_response_filename"] == str(folder / "irs" / "room.wav")
    preset.stem("speech").board()  # builds
    for outside in ("../secret.wav", str(tmp_path / "secret.wav"), "/etc/passwd"):
        with pytest.raises(PresetError, match="outside the preset's folder"):
            load_preset(_preset(folder, f'{{ plugin = "Convolution", impulse_response_filename = "{outside}" }}'))
    from tuss_fx.mix.presets import parse_preset

    raw = tomllib.loads((folder / "p.toml").read_text().replace("../secret.wav", "irs/room.wav"))
    with pytest.raises(PresetError, match="only a preset file may name a file"):
        parse_preset(raw, "mapping")


# ---- the cache root -----------------------------------------------------------------------------------------

def test_the_tuss_fx_folder_is_made_private_and_a_shared_one_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv(models.HOME_ENV, str(home))
    assert models.home() == home and stat.S_IMODE(home.stat().st_mode) == 0o700
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(models.HOME_ENV, str(shared))
    with pytest.raises(models.ModelInstallError, match="other users may write it"):
        models.home()
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
    home.chmod(0o700)
    monkeypatch.setenv(models.HOME_ENV, str(home))
    with pytest.raises(models.ModelInstallError, match="belongs to another user"):
        models.home()


def test_on_windows_the_folder_s_access_lists_keep_it_private(tmp_path, monkeypatch):
    """Windows has no os.getuid and no owner bits in os.stat: the user's cache folder is private by its ACLs."""
    shared = tmp_path / "cache"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.delattr(os, "getuid")
    monkeypatch.setenv(models.HOME_ENV, str(shared))
    assert models.home() == shared


def test_an_entry_whose_stems_are_not_the_plan_s_is_not_opened(session, tmp_path):
    entry = session.entry
    assert open_entry(entry.folder.name, ["speech"], entry.folder.parent) is not None
    forged = tmp_path / entry.folder.name
    forged.mkdir()
    record = {**entry.record, "stems": ["../../escape"]}
    (forged / "entry.json").write_text(json.dumps(record))
    assert open_entry(entry.folder.name, ["speech"], tmp_path) is None
    assert open_entry(entry.folder.name, ["speech", "sfxbg"], entry.folder.parent) is None
