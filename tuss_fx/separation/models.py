"""The models tuss-fx knows: what ships inside it, and the official TUSS checkpoints it can install.

Official checkpoints (AGPL-3.0-or-later, MERL) are not shipped; `tuss-fx models pull NAME`
fetches one from the official repository's Git LFS media (or a studio mirror serving the same
paths), checks both files against the sha256 pinned here from the official LFS pointers, and
installs the official folder layout (hparams.yaml + checkpoints/model.pth) into
$TUSS_FX_HOME/models/NAME, in one rename once everything is verified. Then NAME works wherever
a checkpoint is asked for.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tuss_fx.errors import TussFxError
from tuss_fx.separation.download import DownloadError, Progress, download, sha256_of

OFFICIAL_REPOSITORY = "merlresearch/unified-source-separation"
OFFICIAL_COMMIT = "f7711c1120e00669d905a4fef9c8494a0f8c9662"  # release 1.0.0
OFFICIAL_LFS_BASE = f"https://media.githubusercontent.com/media/{OFFICIAL_REPOSITORY}/{OFFICIAL_COMMIT}"
OFFICIAL_RAW_BASE = f"https://raw.githubusercontent.com/{OFFICIAL_REPOSITORY}/{OFFICIAL_COMMIT}"
MIRROR_ENV = "TUSS_FX_MODEL_MIRROR"
HOME_ENV = "TUSS_FX_HOME"
OFFICIAL_LICENCE = "AGPL-3.0-or-later"
CHECKPOINT_FILE = "checkpoints/model.pth"
HPARAMS_FILE = "hparams.yaml"


class ModelInstallError(TussFxError):
    """A model that could not be installed: unknown name, wrong files, or a failed download."""


@dataclass(frozen=True)
class PinnedFile:
    """One file of an official model: its path in the repository and what it must hash to."""

    path: str  # relative to the repository root
    sha256: str
    size: int


@dataclass(frozen=True)
class OfficialModel:
    name: str
    description: str
    checkpoint: PinnedFile
    hparams: PinnedFile
    licence: str = OFFICIAL_LICENCE

    @property
    def files(self) -> dict[str, PinnedFile]:
        """Installed relative path -> pinned file."""
        return {CHECKPOINT_FILE: self.checkpoint, HPARAMS_FILE: self.hparams}


def _official(size_name: str, description: str, checkpoint_sha256: str, checkpoint_size: int,
              hparams_sha256: str, hparams_size: int) -> OfficialModel:
    folder = f"pretrained_models/tuss.{size_name}.2-4src"
    return OfficialModel(f"tuss-{size_name}", description,
                         PinnedFile(f"{folder}/{CHECKPOINT_FILE}", checkpoint_sha256, checkpoint_size),
                         PinnedFile(f"{folder}/{HPARAMS_FILE}", hparams_sha256, hparams_size))


# sha256 and sizes: the official LFS pointers (checkpoints) and the committed files (hparams.yaml)
OFFICIAL_MODELS = {
    model.name: model
    for model in (
        _official("medium", "official TUSS medium (D 64, 4 + 2 blocks)",
                  "112174a8c894b008cfd676052e8a3d60c876bc2ba063c77a3a4700a257655eec", 44_864_630,
                  "215574ac0aef89e683746c41695d497a7fdde8a8aa8e323f61999404c28d1d84", 6228),
        _official("large", "official TUSS large (D 128, 6 + 3 blocks)",
                  "1ed66c06944ef197c9f0ff585c1643ffec25a9925641c02ad6c108a88dfe5acd", 153_210_470,
                  "ce814450dfd9a8ae201ed1fa00d91bec43013455cae3e158163b09699f7384ee", 6230),
    )
}


def home() -> Path:
    """$TUSS_FX_HOME, else the user cache directory's tuss-fx folder (platformdirs): created 0700 where it is
    missing, and refused where another user could write it (check_private).

    Raises:
        ModelInstallError: the folder is another user's, or others may write it.
    """
    if os.environ.get(HOME_ENV):
        root = Path(os.environ[HOME_ENV])
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("tuss-fx", appauthor=False))
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelInstallError(root, f"cannot create the tuss-fx folder ({exc.strerror}); set {HOME_ENV}") from None
    check_private(root)
    return root


def check_private(folder: Path) -> None:
    """Refuse a folder another user owns or may write: models and cached stems in it would be trusted, so a
    shared one (TUSS_FX_HOME=/tmp/x on a shared machine) could hand this run someone else's weights or
    stems. POSIX only: Windows keeps the user's cache folder private by its access lists, and its
    os.stat shows no owner or group bits to check.

    Raises:
        ModelInstallError: what is wrong, naming the folder.
    """
    if not hasattr(os, "getuid"):
        return
    status = folder.stat()
    if status.st_uid != os.getuid():
        raise ModelInstallError(folder, f"belongs to another user (uid {status.st_uid}); set {HOME_ENV} to a folder "
                                        f"of your own")
    if status.st_mode & 0o022:
        raise ModelInstallError(folder, f"other users may write it (mode {status.st_mode & 0o777:o}); "
                                        f"chmod go-w it or set {HOME_ENV} to a folder of your own")


def install_dir(name: str) -> Path:
    return home() / "models" / name


def official(name: str) -> OfficialModel:
    """Raises ModelInstallError for a name that is not an official model."""
    if name not in OFFICIAL_MODELS:
        raise ModelInstallError(name, f"not an official model; known: {', '.join(OFFICIAL_MODELS)}")
    return OFFICIAL_MODELS[name]


def installed(name: str) -> Path | None:
    """The folder of an installed official model, or None."""
    folder = install_dir(name)
    return folder if (folder / CHECKPOINT_FILE).exists() and (folder / HPARAMS_FILE).exists() else None


def file_url(pinned: PinnedFile, mirror: str | None) -> str:
    """Where a pinned file is served: the mirror's same path, else the official LFS media (the
    checkpoint) or raw file (hparams.yaml) at the pinned release."""
    if mirror:
        return f"{mirror.rstrip('/')}/{pinned.path}"
    base = OFFICIAL_LFS_BASE if pinned.path.endswith(".pth") else OFFICIAL_RAW_BASE
    return f"{base}/{pinned.path}"


def pull(model: OfficialModel, mirror: str | None = None, progress: Progress | None = None) -> Path:
    """Download, verify and install `model`; returns its folder. Resumes a download a cut left.

    Raises:
        DownloadError / ModelInstallError: one line; nothing appears under models/NAME unless
            every file is complete and verified.
    """
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    target = install_dir(model.name)
    if installed(model.name):
        return target
    staging = _staging(model.name)
    for relative, pinned in model.files.items():
        destination = staging / relative
        if destination.exists() and sha256_of(destination) == pinned.sha256:
            continue  # verified by an earlier, interrupted pull
        destination.parent.mkdir(parents=True, exist_ok=True)
        download(file_url(pinned, mirror), destination, pinned.sha256, pinned.size,
                 progress if relative == CHECKPOINT_FILE else None)
    return _commit(staging, target)


def add(model: OfficialModel, source: Path) -> Path:
    """Install a copy the user already has: an official folder (hparams.yaml + checkpoints/model.pth)
    or the model.pth (hparams.yaml beside it or one folder up). Verified like a pull.

    Raises:
        ModelInstallError: a missing file, or a file that is not the official one.
    """
    files = _local_files(source)
    for relative, pinned in model.files.items():
        actual = sha256_of(files[relative])
        if actual != pinned.sha256:
            raise ModelInstallError(files[relative], f"sha256 {actual} is not the official {model.name} "
                                                     f"{relative} ({pinned.sha256})")
    target = install_dir(model.name)
    if installed(model.name):
        return target
    staging = _staging(model.name)
    try:
        for relative, path in files.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / relative)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelInstallError(install_dir(model.name), f"cannot copy the files there ({exc.strerror})") from None
    return _commit(staging, target)


def _local_files(source: Path) -> dict[str, Path]:
    if source.is_dir():
        checkpoint, hparams = source / CHECKPOINT_FILE, source / HPARAMS_FILE
    else:
        checkpoint = source
        beside = [source.parent / HPARAMS_FILE, source.parent.parent / HPARAMS_FILE]
        hparams = next((p for p in beside if p.exists()), beside[0])
    for path in (checkpoint, hparams):
        if not path.is_file():
            raise ModelInstallError(path, "no such file; give the official folder or its checkpoints/model.pth")
    return {CHECKPOINT_FILE: checkpoint, HPARAMS_FILE: hparams}


def _staging(name: str) -> Path:
    """A folder beside the install target, on the same disk, so the final move is one rename."""
    staging = home() / "models" / f".{name}.partial"
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelInstallError(staging, f"cannot create the model folder ({exc.strerror}); set {HOME_ENV}") from None
    return staging


def _commit(staging: Path, target: Path) -> Path:
    try:
        os.replace(staging, target)
    except OSError as exc:
        raise ModelInstallError(target, f"cannot install there ({exc.strerror})") from None
    return target


__all__ = ["DownloadError", "ModelInstallError", "OFFICIAL_MODELS", "add", "home", "installed", "official", "pull"]
