"""Load official TUSS checkpoints unchanged, and save/load tuss-fx's native safetensors + JSON format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tuss_fx.errors import CheckpointError
from tuss_fx.media.temp_files import write_atomically
from tuss_fx.model import ConfigError, TussConfig, TussModel
from tuss_fx.separation.models import OFFICIAL_MODELS, installed
from tuss_fx.separation.split import STEM_SPLIT_KEY, StemSplit, read_split

# Official files hold the separator's state_dict under one of these prefixes (tried in order).
# Module names already follow the official keys, so this prefix table is the whole key mapping.
OFFICIAL_KEY_PREFIXES = ("model.separator.", "separator.", "")
OFFICIAL_SUFFIXES = (".pth", ".ckpt", ".pt")
WEIGHTS_DIR = Path(__file__).parents[1] / "weights"
DEFAULT_NAME = "default"
DIALOGUE_ENGINE_KEY = "dialogue_engine"  # native JSON: which engine serves speech, and the measurement


def default_checkpoint() -> Path:
    """Path of the shipped default model (tuss_fx/weights/default.safetensors)."""
    return WEIGHTS_DIR / f"{DEFAULT_NAME}.safetensors"


def resolve(path_or_name: str | Path) -> Path:
    """Map "default" to the shipped model and an official model's name (tuss-medium, tuss-large)
    to its installed folder; otherwise return the path, which must exist.

    Raises:
        CheckpointError: no such file, "default" asked for while no default model ships, or an
            official model that is not installed.
    """
    if str(path_or_name) in OFFICIAL_MODELS:
        folder = installed(str(path_or_name))
        if folder is None:
            raise CheckpointError(path_or_name, f"not installed; run `tuss-fx models pull {path_or_name}` (or "
                                                f"`tuss-fx models add {path_or_name} PATH` with a copy you have)")
        return folder
    if str(path_or_name) == DEFAULT_NAME:
        path = default_checkpoint()
        if not path.exists():
            raise CheckpointError(
                DEFAULT_NAME,
                "no default model ships in this build; pass --checkpoint PATH: an official TUSS folder "
                "(e.g. pretrained_models/tuss.medium.2-4src) or a tuss-fx .safetensors file",
            )
        return path
    path = Path(path_or_name)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file or folder")
    return path


def load_model(path_or_name: str | Path) -> TussModel:
    """Build a TussModel from any supported checkpoint, in eval mode on the CPU.

    Accepted: "default"; an official pretrained folder (hparams.yaml + checkpoints/*.pth|*.ckpt);
    an official .pth/.ckpt file (hparams.yaml beside it or one folder up); a tuss-fx
    .safetensors file (config .json of the same stem beside it) or a folder holding one.

    Raises:
        CheckpointError: one line naming the file and the first missing, unexpected or
            mis-shaped key, or why the file could not be read.
    """
    path = resolve(path_or_name)
    if path.is_dir():
        path = _weights_in_folder(path)
    if path.suffix == ".safetensors":
        config = _read_config(path.with_suffix(".json"))
        try:
            state = load_file(path)
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(path, f"not a readable safetensors file ({exc})") from None
    else:
        config = _read_config(_official_hparams(path))
        state = _official_state_dict(path)
    model = TussModel(config)
    _load_strict(model, state, path)
    return model.eval()


def recorded_dialogue_engine(path_or_name: str | Path) -> str | None:
    """The dialogue engine measured better for this model ("tuss" or "deepfilternet"), from the
    `dialogue_engine` record of its native JSON; None for official checkpoints or no record."""
    record = _native_json(path_or_name).get(DIALOGUE_ENGINE_KEY)
    return record.get("choice") if isinstance(record, dict) else None


def recorded_dialogue_weights(path_or_name: str | Path) -> Path | None:
    """The fine-tuned DeepFilterNet3 weights the model's `dialogue_engine` record names (a file beside
    its JSON, written by `tuss-fx finetune --engine dialogue|both`); None: the shipped ones.

    Raises:
        CheckpointError: the record names a weights file that is not there.
    """
    record = _native_json(path_or_name).get(DIALOGUE_ENGINE_KEY)
    name = record.get("weights") if isinstance(record, dict) else None
    if not name:
        return None
    path = weights_file(resolve(path_or_name)).parent / name
    if not path.is_file():
        raise CheckpointError(path, "the model's dialogue engine weights are missing (they travel beside its .json)")
    return path


def recorded_stem_split(path_or_name: str | Path) -> StemSplit:
    """Whether this model's music/effects split is trusted, from the `stem_split` record of its native
    JSON (tuss_fx.separation.split); official checkpoints count as able."""
    path = weights_file(resolve(path_or_name))
    return read_split(_native_json(path_or_name).get(STEM_SPLIT_KEY), official=path.suffix != ".safetensors")


def record_dialogue_engine(weights: Path, record: dict[str, Any]) -> None:
    """Write `record` ({"choice": ..., what was measured}) into the native JSON beside `weights`."""
    record_in_json(weights, DIALOGUE_ENGINE_KEY, record)


def record_in_json(weights: Path, key: str, record: dict[str, Any]) -> None:
    """Set `key` of the native JSON beside `weights` (a .safetensors file) to `record`, atomically.

    Raises:
        CheckpointError: not a native model (official checkpoints carry no JSON of ours).
    """
    config_path = weights.with_suffix(".json")
    if weights.suffix != ".safetensors" or not config_path.exists():
        raise CheckpointError(weights, "only a tuss-fx .safetensors model with its .json can record a measurement")
    config = json.loads(config_path.read_text())
    config[key] = record
    write_atomically(config_path, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=1)))


def weights_file(path: Path) -> Path:
    """The weights of a resolved checkpoint: the file itself, or the one in its folder."""
    return _weights_in_folder(path) if path.is_dir() else path


def _native_json(path_or_name: str | Path) -> dict[str, Any]:
    """The native JSON beside a .safetensors model; {} for official checkpoints."""
    path = weights_file(resolve(path_or_name))
    config_path = path.with_suffix(".json")
    return json.loads(config_path.read_text()) if path.suffix == ".safetensors" and config_path.exists() else {}


def save_native(model: TussModel, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write `path` (.safetensors) and its config `.json` atomically; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    # rotary tables are shared between blocks; safetensors stores each key as its own tensor
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.separator.state_dict().items()}
    config = {**model.config.to_hparams(), "tuss_fx": metadata or {}}
    write_atomically(path, lambda tmp: save_file(state, tmp))
    write_atomically(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(config, indent=1)))
    return path


def weights_digest(model: TussModel) -> str:
    """SHA-256 of the model's parameter names and values: the same weights give the same digest in
    any file format (an official .ckpt and its safetensors export alike)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _weights_in_folder(folder: Path) -> Path:
    """An official folder (hparams.yaml + checkpoints/*) wins; else a .safetensors with its .json."""
    candidates = []
    if (folder / "hparams.yaml").exists():
        for sub in (folder / "checkpoints", folder):
            candidates += sorted(p for p in sub.glob("*") if p.suffix in OFFICIAL_SUFFIXES)
    candidates += sorted(p for p in folder.glob("*.safetensors") if p.with_suffix(".json").exists())
    if not candidates:
        raise CheckpointError(folder, "no hparams.yaml + checkpoints/*.pth|*.ckpt, nor a .safetensors + .json here")
    return candidates[0]


def _official_hparams(weights: Path) -> Path:
    for folder in (weights.parent, weights.parent.parent):
        if (folder / "hparams.yaml").exists():
            return folder / "hparams.yaml"
    raise CheckpointError(weights, "no hparams.yaml beside the checkpoint or one folder up")


def _read_config(path: Path) -> TussConfig:
    if not path.exists():
        raise CheckpointError(path, "configuration file is missing")
    try:
        text = path.read_text()
        hparams = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(hparams, dict):
            raise ConfigError("not a mapping")
        return TussConfig.from_hparams(hparams)
    except (ConfigError, ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"bad configuration: {exc}".splitlines()[0]) from None


def _official_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or non-tensor files
        raise CheckpointError(path, f"not a readable weights-only checkpoint ({type(exc).__name__})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # Lightning .ckpt
    if not isinstance(loaded, dict) or not loaded:
        raise CheckpointError(path, "holds no state_dict")
    for prefix in OFFICIAL_KEY_PREFIXES:
        state = {k[len(prefix) :]: v for k, v in loaded.items() if k.startswith(prefix)}
        if "sos_token" in state or any(k.startswith("band_split_module.") for k in state):
            return state
    raise CheckpointError(path, f"no TUSS separator keys (first key: {next(iter(loaded))!r})")


def _load_strict(model: TussModel, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.separator.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise CheckpointError(path, f"missing key {key!r}")
        if not isinstance(state[key], torch.Tensor) or state[key].shape != tensor.shape:
            got = tuple(state[key].shape) if isinstance(state[key], torch.Tensor) else type(state[key]).__name__
            raise CheckpointError(path, f"key {key!r} has shape {got}, config expects {tuple(tensor.shape)}")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise CheckpointError(path, f"unexpected key {unexpected[0]!r} (config and weights disagree)")
    model.separator.load_state_dict(state, strict=True)
