"""tuss-fx models: pull (resume, checksums, mirror), add, list, and the installed name as a checkpoint."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import PARITY_DIR
from tests.model_server import ModelServer
from tuss_fx.cli.commands import main
from tuss_fx.errors import CheckpointError
from tuss_fx.separation import models
from tuss_fx.separation.checkpoint import load_model, resolve, weights_digest
from tuss_fx.separation.download import DownloadError, download
from tuss_fx.separation.models import CHECKPOINT_FILE, HPARAMS_FILE, OfficialModel, PinnedFile

FOLDER = "pretrained_models/tuss.test.2-4src"


def _official_folder() -> tuple[bytes, bytes]:
    """The parity fixture's official-format checkpoint and hparams: a real TUSS in the official layout."""
    checkpoint = next((PARITY_DIR / "checkpoints").glob("*.pth"))
    return checkpoint.read_bytes(), (PARITY_DIR / "hparams.yaml").read_bytes()


def _pinned(path: str, body: bytes) -> PinnedFile:
    return PinnedFile(path, hashlib.sha256(body).hexdigest(), len(body))


@pytest.fixture()
def catalogue(tmp_path, monkeypatch):
    """An official-model entry pinned to the parity fixture's files, installed under a temporary home."""
    checkpoint, hparams = _official_folder()
    model = OfficialModel("tuss-test", "test model", _pinned(f"{FOLDER}/{CHECKPOINT_FILE}", checkpoint),
                          _pinned(f"{FOLDER}/{HPARAMS_FILE}", hparams))
    monkeypatch.setitem(models.OFFICIAL_MODELS, model.name, model)
    monkeypatch.setenv(models.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.delenv(models.MIRROR_ENV, raising=False)
    files = {f"/{model.checkpoint.path}": checkpoint, f"/{model.hparams.path}": hparams}
    return model, files


def test_pull_installs_the_official_layout_and_the_name_loads_everywhere(catalogue):
    model, files = catalogue
    with ModelServer(files) as server:
        result = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    assert folder == models.install_dir(model.name)
    assert (folder / CHECKPOINT_FILE).read_bytes() == files[f"/{model.checkpoint.path}"]
    assert "AGPL-3.0-or-later" in result.stderr
    assert not list(folder.parent.glob(".*partial"))
    assert resolve(model.name) == folder
    assert weights_digest(load_model(model.name)) == weights_digest(load_model(PARITY_DIR))
    listing = CliRunner().invoke(main, ["models"])
    assert f"installed: {folder}" in listing.output


def test_a_cut_download_resumes_with_a_range_request(catalogue):
    model, files = catalogue
    path = f"/{model.checkpoint.path}"
    with ModelServer(files) as server:
        server.cut_after[path] = 1000
        first = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
        assert first.exit_code == 1
        assert "cut after 1000 of" in first.stderr and "again to resume" in first.stderr
        assert models.installed(model.name) is None  # nothing half-installed
        second = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
    assert second.exit_code == 0, second.output
    assert (path, "bytes=1000-") in server.requests
    assert (models.install_dir(model.name) / CHECKPOINT_FILE).read_bytes() == files[path]


def test_a_server_ignoring_range_sends_the_whole_file_again(catalogue, tmp_path):
    model, files = catalogue
    path = f"/{model.checkpoint.path}"
    target = tmp_path / "model.pth"
    target.with_name("model.pth.part").write_bytes(files[path][:500])
    with ModelServer(files, honour_range=False) as server:
        download(server.url + path, target, model.checkpoint.sha256, model.checkpoint.size)
    assert target.read_bytes() == files[path]


def test_a_wrong_file_is_refused_and_deleted(catalogue):
    model, files = catalogue
    path = f"/{model.checkpoint.path}"
    wrong = dict(files)
    wrong[path] = bytes(len(files[path]))  # right size, wrong content
    with ModelServer(wrong) as server:
        result = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
    assert result.exit_code == 1
    assert "sha256" in result.stderr and "deleted" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # the licence line, then one error line
    assert models.installed(model.name) is None
    assert not list(models.home().rglob("*.part"))


def test_mirror_from_the_environment_and_http_errors_are_one_line(catalogue, monkeypatch):
    model, files = catalogue
    with ModelServer(files) as server:
        server.status[f"/{model.checkpoint.path}"] = 407
        monkeypatch.setenv(models.MIRROR_ENV, server.url)
        result = CliRunner().invoke(main, ["models", "pull", model.name])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "proxy refused" in result.stderr


def test_offline_is_one_line(catalogue):
    model, _ = catalogue
    with ModelServer({}) as server:
        closed = server.url  # the server stops on leaving the block: nothing listens there any more
    result = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", closed])
    assert result.exit_code == 1
    assert "cannot connect" in result.stderr
    assert "Traceback" not in result.output


def test_a_full_disk_is_one_line_and_keeps_the_part(catalogue, monkeypatch):
    model, files = catalogue
    import errno
    import tuss_fx.separation.download as download_module

    real_open = open

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download_module, "open", lambda p, mode="r": FullDisk(real_open(p, mode)), raising=False)
    with ModelServer(files) as server:
        result = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
    assert result.exit_code == 1
    assert "no space left" in result.stderr
    assert models.installed(model.name) is None


def test_add_verifies_a_local_copy(catalogue, tmp_path):
    model, _ = catalogue
    copy = tmp_path / "copy"
    shutil.copytree(PARITY_DIR, copy, ignore=shutil.ignore_patterns("*.safetensors", "*.json", "*.md"))
    checkpoint = next((copy / "checkpoints").glob("*.pth"))
    checkpoint.rename(copy / CHECKPOINT_FILE)
    result = CliRunner().invoke(main, ["models", "add", model.name, str(copy / CHECKPOINT_FILE)])
    assert result.exit_code == 0, result.output
    assert models.installed(model.name) == Path(result.stdout.strip())


def test_add_refuses_a_different_file(catalogue, tmp_path):
    model, _ = catalogue
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"something else")
    shutil.copy(PARITY_DIR / "hparams.yaml", tmp_path / HPARAMS_FILE)
    result = CliRunner().invoke(main, ["models", "add", model.name, str(tmp_path)])
    assert result.exit_code == 1
    assert "is not the official tuss-test" in result.stderr
    assert models.installed(model.name) is None


def test_an_official_name_not_installed_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(models.HOME_ENV, str(tmp_path))
    with pytest.raises(CheckpointError, match="models pull tuss-medium"):
        resolve("tuss-medium")


def test_the_catalogue_pins_the_official_lfs_pointers():
    medium, large = models.OFFICIAL_MODELS["tuss-medium"], models.OFFICIAL_MODELS["tuss-large"]
    assert (medium.checkpoint.sha256, medium.checkpoint.size) == (
        "112174a8c894b008cfd676052e8a3d60c876bc2ba063c77a3a4700a257655eec", 44_864_630)
    assert (large.checkpoint.sha256, large.checkpoint.size) == (
        "1ed66c06944ef197c9f0ff585c1643ffec25a9925641c02ad6c108a88dfe5acd", 153_210_470)
    url = models.file_url(medium.checkpoint, None)
    assert url.endswith("/pretrained_models/tuss.medium.2-4src/checkpoints/model.pth") and "/media/" in url
    assert models.file_url(medium.checkpoint, "http://mirror.local/tuss/") == \
        "http://mirror.local/tuss/pretrained_models/tuss.medium.2-4src/checkpoints/model.pth"


def test_unknown_name_is_one_line():
    result = CliRunner().invoke(main, ["models", "pull", "tuss-huge"])
    assert result.exit_code == 1
    assert "not an official model" in result.stderr


def test_download_error_names_the_url():
    with ModelServer({}) as server:
        with pytest.raises(DownloadError, match=r"HTTP 404"):
            download(server.url + "/missing", Path("/tmp/never-written"), "0" * 64, 1)


def test_a_mirror_serving_a_file_of_another_size_says_so(catalogue):
    """A 4 KB file where the checkpoint is pinned: one line naming both sizes and the mirror, no .part
    kept for a resume that could never succeed (it used to say the connection was cut)."""
    model, files = catalogue
    wrong = dict(files)
    wrong[f"/{model.checkpoint.path}"] = bytes(4096)
    with ModelServer(wrong) as server:
        result = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
        assert result.exit_code == 1
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith(f"error: {server.url}/") and "reports 4096 bytes" in error
        assert f"pinned file is {model.checkpoint.size} bytes" in error and "cut" not in error
        assert not list(models.home().rglob("*.part")) and models.installed(model.name) is None
        again = CliRunner().invoke(main, ["models", "pull", model.name, "--mirror", server.url])
        assert "reports 4096 bytes" in again.stderr  # the same answer, not a resume loop
