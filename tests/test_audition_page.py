"""The audition page in a real browser (Debian's headless Chromium under Selenium): the plan's stems under
faders, the page's own mix against numpy, A/B without a gap, keys, the preset's preview as a third source,
Save -> a preset `tuss-fx remix` runs at the page's gains, and a page of another origin refused."""

from __future__ import annotations

import base64
import http.client
import http.server
import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tuss_fx.audition.server import AuditionServer
from tuss_fx.audition.session import PREVIEW
from tuss_fx.cli.commands import main
from tuss_fx.mix.presets import load_preset
from tuss_fx.media.timecode import ProgrammeClock, parse_timecode

from tests.audition_scene import RATE, audition_of, write_scene
from tests.conftest import require

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EQUAL_ATOL = 1e-4  # the bound: float32 gains and sums in the browser against float64 numpy
SCREENSHOT_ENV = "TUSS_FX_AUDITION_SCREENSHOT"  # where to keep the page's picture (the manual's is made so)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    path = folder / "scene.wav"
    write_scene(path)
    return path


@pytest.fixture(scope="module")
def session(scene, tmp_path_factory):
    return audition_of(scene, tmp_path_factory.mktemp("cache"), save_path=scene.with_name("tuned.toml"))


@pytest.fixture(scope="module")
def server(session):
    served = AuditionServer(session)
    threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True).start()
    yield served
    served.shutdown()
    served.server_close()


@pytest.fixture(scope="module")
def browser():
    webdriver = require("selenium.webdriver", "selenium drives the browser (the dev extra)")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) and os.environ.get("CI") != "true":
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1200"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture()
def page(browser, server, session):
    """The page opened as a user opens it (the URL with the token), its default region loaded."""
    session.save_path = session.save_path.with_name("tuned.toml")
    browser.get("about:blank")  # a fresh page: the same address again would change its fragment alone
    browser.get(server.url)
    _wait(browser, "return document.body.dataset.ready === 'true'")
    return browser


def _wait(driver, script, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _set_fader(driver, name, db):
    driver.execute_script("const f = document.querySelector(`input[type=range][data-stem='${arguments[0]}']`);"
                          "f.value = arguments[1]; f.dispatchEvent(new Event('input'));", name, db)


def _render(driver, **options) -> np.ndarray:
    encoded = driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                          "window.tussAudition.renderOffline(arguments[0]).then(done);", options)
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").reshape(2, -1)


def _region(driver) -> tuple[int, int]:
    region = driver.execute_script("return window.tussAudition.state.region")
    return region["start"], region["frames"]


def test_the_page_lists_the_plans_stems_at_the_presets_gains(page, session):
    faders = page.find_elements("css selector", "input[type=range][data-stem]")
    assert [f.get_attribute("data-stem") for f in faders] == session.sources == ["speech", "background"]
    assert [float(f.get_attribute("value")) for f in faders] == [5.0, -5.0]  # dialogue-boost's dialogue plan
    start, frames = _region(page)
    assert (start / RATE, (start + frames) / RATE) == pytest.approx(session.default_region(), abs=1 / RATE)
    if os.environ.get(SCREENSHOT_ENV):
        page.save_screenshot(os.environ[SCREENSHOT_ENV])


def test_the_pages_mix_is_the_stems_times_the_faders(page, session):
    """What you hear is the preset's arithmetic: the region's graph rendered offline with the faders set
    equals the same stem slices times the same gains in numpy."""
    _set_fader(page, "speech", 3.3)
    _set_fader(page, "background", -7.1)
    start, frames = _region(page)
    heard = _render(page, bus="mix")
    speech, background = (session.listen(name, start, frames).astype(np.float64) for name in session.sources)
    expected = 10 ** (3.3 / 20) * speech + 10 ** (-7.1 / 20) * background
    np.testing.assert_allclose(heard, expected, atol=EQUAL_ATOL)
    assert np.abs(expected).max() > 0.05  # a real signal, not two silences agreeing
    _set_fader(page, "background", -72)  # the bottom stop is -inf
    np.testing.assert_allclose(_render(page, bus="mix"), 10 ** (3.3 / 20) * speech, atol=EQUAL_ATOL)


def test_keys_play_switch_solo_and_mute(page, session):
    from selenium.webdriver.common.keys import Keys

    body = page.find_element("css selector", "body")
    start, frames = _region(page)
    original = session.listen("original", start, frames)
    body.send_keys("a")
    assert page.execute_script("return document.body.dataset.bus") == "original"
    np.testing.assert_allclose(_render(page), original, atol=EQUAL_ATOL)
    body.send_keys("a")
    assert page.execute_script("return document.body.dataset.bus") == "mix"
    body.send_keys("2", "s")  # solo the background: the speech is silent
    background = session.listen("background", start, frames)
    np.testing.assert_allclose(_render(page), 10 ** (-5.0 / 20) * background, atol=EQUAL_ATOL)
    body.send_keys("s", "m")  # unsolo, then mute the background
    np.testing.assert_allclose(_render(page), 10 ** (5.0 / 20) * session.listen("speech", start, frames),
                               atol=EQUAL_ATOL)
    body.send_keys(Keys.SPACE)
    _wait(page, "return document.body.dataset.playing === 'true'")
    first = page.execute_script("return window.tussAudition.state.ctx.currentTime")
    time.sleep(0.5)
    assert page.execute_script("return window.tussAudition.state.ctx.currentTime") > first  # one clock, running
    _wait(page, "return document.querySelector('#meter-value').textContent !== '-inf'", 10)  # live loudness
    body.send_keys(Keys.SPACE)
    _wait(page, "return document.body.dataset.playing === 'false'")


def test_loudness_matched_ab_brings_the_original_to_the_mixs_loudness(page, session):
    page.find_element("css selector", "#matched").click()
    _wait(page, "return window.tussAudition.state.busGains.original !== 1")
    start, frames = _region(page)
    measured = session.loudness(start, frames, {"speech": 5.0, "background": -5.0})
    expected = 10 ** ((measured["mix_lufs"] - measured["original_lufs"]) / 20)
    assert page.execute_script("return window.tussAudition.state.busGains.original") == pytest.approx(expected, rel=1e-6)
    original = session.listen("original", start, frames)
    np.testing.assert_allclose(_render(page, bus="original"), expected * original, atol=EQUAL_ATOL)


def test_ab_switches_sources_without_a_gap(page, session):
    """Every source keeps playing and the buses cross in one 10 ms ramp: before the switch the output is the
    mix, after it the original, and in between their linear blend; never a silence."""
    start, frames = _region(page)
    at_seconds = 1.0
    heard = _render(page, bus="mix", switchTo="original", switchAtSeconds=at_seconds).astype(np.float64)
    mix = sum(10 ** (gain / 20) * session.listen(name, start, frames).astype(np.float64)
              for name, gain in zip(session.sources, (5.0, -5.0)))
    original = session.listen("original", start, frames).astype(np.float64)
    at, ramp = int(at_seconds * RATE), int(0.01 * RATE)
    np.testing.assert_allclose(heard[:, :at], mix[:, :at], atol=EQUAL_ATOL)
    np.testing.assert_allclose(heard[:, at + ramp + 1:], original[:, at + ramp + 1:], atol=EQUAL_ATOL)
    weight = np.clip((np.arange(at, at + ramp) - at) / ramp, 0, 1)
    blend = (1 - weight) * mix[:, at:at + ramp] + weight * original[:, at:at + ramp]
    np.testing.assert_allclose(heard[:, at:at + ramp], blend, atol=5e-3)


def test_preview_plays_the_presets_render_as_a_third_source(page, session):
    page.find_element("css selector", '[data-action="preview"]').click()
    _wait(page, "return document.body.dataset.preview === 'ready'")
    assert page.execute_script("return document.body.dataset.bus") == "preview"
    start, frames = _region(page)
    np.testing.assert_allclose(_render(page, bus="preview"), session.listen(PREVIEW, start, frames), atol=EQUAL_ATOL)
    assert "LUFS" in page.find_element("css selector", "#preview-status").text


def test_a_fader_moved_and_saved_is_the_preset_remix_runs(page, session, scene):
    from selenium.webdriver.common.keys import Keys

    fader = page.find_element("css selector", "input[type=range][data-stem='speech']")
    fader.send_keys(*[Keys.ARROW_UP] * 15)  # +1.5 dB in the fader's 0.1 dB steps, as a user would
    assert float(fader.get_attribute("value")) == pytest.approx(6.5)
    name = page.find_element("css selector", "#save-name")
    name.clear()
    name.send_keys("by-ear.toml")
    page.find_element("css selector", '[data-action="save"]').click()
    _wait(page, "return Boolean(document.body.dataset.saved)")
    saved = Path(page.execute_script("return document.body.dataset.saved"))
    assert saved == session.save_path.with_name("by-ear.toml")
    assert "tuss-fx remix" in page.find_element("css selector", "#save-result").text
    preset = load_preset(saved)
    assert preset.stem("speech").gain_db == pytest.approx(6.5) and preset.background.gain_db == -5.0
    result = CliRunner().invoke(main, ["remix", str(scene), "--preset", str(saved), "-o",
                                       str(scene.with_name("by-ear.wav")), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "speech     +6.5 dB" in result.output and "background -5.0 dB" in result.output
    page.find_element("css selector", '[data-action="save"]').click()  # again: it exists, and stays as it was
    _wait(page, "return document.querySelector('#save-result').classList.contains('error')")
    assert "exists already" in page.find_element("css selector", "#save-result").text


def _elsewhere(folder: Path):
    """Another local program's web server on another port of 127.0.0.1, recording the headers it is sent."""
    (folder / "index.html").write_text("<!doctype html><title>elsewhere</title>")
    received = []

    class Recording(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args):
            super().__init__(*args, directory=str(folder))

        def log_message(self, *args):
            pass

        def do_GET(self):
            received.append(str(self.headers))
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, received


def test_a_page_on_another_port_learns_nothing_that_calls_the_api(page, server, session, tmp_path):
    """Browsers send a cookie of 127.0.0.1 to every port of it, and count every port as the same site: a
    page of any other local program the user visits gets nothing of the audition's (the token lives in
    the audition page's own memory and sessionStorage, which are per origin, port included), and what
    it sends the API, with the browser's credentials, is refused; no preset appears."""
    elsewhere, received = _elsewhere(tmp_path)
    try:
        page.get(f"http://127.0.0.1:{elsewhere.server_address[1]}/index.html")
        seen = page.execute_script("return [document.cookie, JSON.stringify(sessionStorage), "
                                   "JSON.stringify(localStorage), location.href].join(' ')")
        assert server.token not in seen
        assert received and not [headers for headers in received if server.token in headers]
        statuses = page.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const base = `http://127.0.0.1:${arguments[0]}`;
            const body = JSON.stringify({gains_db: {speech: 9}, name: "csrf.toml"});
            Promise.all([
              fetch(`${base}/api/save`, {method: "POST", mode: "no-cors", credentials: "include", body})
                .then(() => "sent", e => "blocked"),
              fetch(`${base}/api/save`, {method: "POST", credentials: "include", headers: {"Content-Type":
                "application/json", "X-Tuss-Token": "guess"}, body}).then(r => r.status, e => "blocked"),
              fetch(`${base}/api/overview`, {credentials: "include"}).then(r => r.status, e => "blocked"),
            ]).then(done);""", server.port)
        assert statuses[1:] == ["blocked", "blocked"]  # no CORS permission: nothing comes back to read
        time.sleep(0.3)
        assert not session.save_path.with_name("csrf.toml").exists()
        # what those requests carried, sent as the browser sent them (its cookies for 127.0.0.1 included)
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.get_cookies())
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/api/overview", headers={"Host": f"127.0.0.1:{server.port}", "Cookie": cookies})
        assert connection.getresponse().status == 403
        page.get(f"http://localhost:{server.port}/")  # another name for the host: another origin, no token
        _wait(page, "return document.body.textContent.includes('needs the address')")
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()


def test_the_token_leaves_the_address_bar_and_survives_a_reload(page, server):
    assert page.current_url == f"http://127.0.0.1:{server.port}/"
    page.refresh()
    _wait(page, "return document.body.dataset.ready === 'true'")
    assert page.current_url == f"http://127.0.0.1:{server.port}/"


@pytest.mark.parametrize("clock", [ProgrammeClock(), ProgrammeClock(3600.0), parse_timecode("01:00:00:00", Fraction(25)),
                                   parse_timecode("00:59:59;28", Fraction(30000, 1001)),
                                   parse_timecode("10:00:00:00", Fraction(24000, 1001))])
def test_the_pages_timecode_is_the_programmes(page, clock):
    offsets = [0.0, 0.04, 59.96, 60.0, 61.3, 599.9, 600.0, 3599.99, 5432.1]
    record = {"start_seconds": clock.start_seconds, "drop_frame": clock.drop_frame,
              "frame_rate": [clock.frame_rate.numerator, clock.frame_rate.denominator] if clock.frame_rate else None}
    labels = page.execute_script("return arguments[1].map(s => window.tussAudition.timecodeLabel(arguments[0], s))",
                                 record, offsets)
    assert labels == [clock.label(offset) for offset in offsets]



@pytest.fixture(scope="module")
def replaced_server(scene, tmp_path_factory):
    """A second audition of the scene with `speech` replaced by a dub (audition --replace speech=dub.wav)."""
    from tests.test_audition_replace import write_dub
    from tuss_fx.audition.replaced import place_recordings
    from tuss_fx.mix.replace import Replacement

    folder = tmp_path_factory.mktemp("page-replace")
    write_dub(folder / "dub.wav")
    session = audition_of(scene, folder / "cache", save_path=folder / "dubbed.toml")
    session.replaced = place_recordings(session.info, session.plan, session.entry,
                                        [Replacement("speech", folder / "dub.wav")], "lines", False, folder, session.fold)
    served = AuditionServer(session)
    threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True).start()
    yield served
    served.shutdown()
    served.server_close()


def test_a_replaced_stem_plays_under_its_own_fader_against_the_original(browser, replaced_server):
    """The faders play the replaced mix (the dub's new stem up, the original dialogue down) and A/B takes
    the original programme; the original dialogue's fader brings it back to listen against."""
    session = replaced_server.audition
    browser.get("about:blank")
    browser.get(replaced_server.url)
    _wait(browser, "return document.body.dataset.ready === 'true'")
    faders = browser.find_elements("css selector", "input[type=range][data-stem]")
    assert [f.get_attribute("data-stem") for f in faders] == ["speech", "background", "speech (new)"]
    assert [float(f.get_attribute("value")) for f in faders] == [-72.0, -5.0, 5.0]
    assert "speech replaced by" in browser.find_element("css selector", "#plan").text
    start, frames = _region(browser)
    new, background, original_speech, original = (session.listen(name, start, frames).astype(np.float64)
                                                  for name in ("speech (new)", "background", "speech", "original"))
    replaced_mix = 10 ** (5 / 20) * new + 10 ** (-5 / 20) * background
    np.testing.assert_allclose(_render(browser, bus="mix"), replaced_mix, atol=EQUAL_ATOL)
    assert np.abs(new).max() > 0.01 and np.abs(new - original_speech).max() > 0.01  # the dub, not the original
    browser.execute_script("document.querySelector('#matched').checked = false;"
                           "document.querySelector('#matched').dispatchEvent(new Event('change'))")
    np.testing.assert_allclose(_render(browser, bus="original"), original, atol=EQUAL_ATOL)
    _set_fader(browser, "speech", 0.0)
    np.testing.assert_allclose(_render(browser, bus="mix"), replaced_mix + original_speech, atol=EQUAL_ATOL)
