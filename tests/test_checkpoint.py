import shutil

import pytest
import torch

from tuss_fx.errors import CheckpointError
from tuss_fx.separation import checkpoint
from tuss_fx.separation.checkpoint import load_model, save_native

from tests.conftest import PARITY_RTOL, max_rel_error


def _official_state(parity_dir):
    return torch.load(parity_dir / "checkpoints" / "model.pth", weights_only=True)


def _same_weights(a, b):
    sa, sb = a.separator.state_dict(), b.separator.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("prefix, wrap", [("model.separator.", False), ("separator.", False), ("", False),
                                          ("model.separator.", True)])
def test_official_files_with_any_prefix_load(parity_dir, parity_model, tmp_path, prefix, wrap):
    state = {prefix + k.removeprefix("model.separator."): v for k, v in _official_state(parity_dir).items()}
    suffix = ".ckpt" if wrap else ".pth"
    torch.save({"state_dict": state, "epoch": 3} if wrap else state, tmp_path / f"model{suffix}")
    shutil.copy(parity_dir / "hparams.yaml", tmp_path / "hparams.yaml")
    assert _same_weights(load_model(tmp_path / f"model{suffix}"), parity_model)


def test_native_round_trip_keeps_outputs(parity_model, parity_io, prompt_sets, tmp_path):
    path = save_native(parity_model, tmp_path / "tiny.safetensors", {"note": "test"})
    assert path.exists() and path.with_suffix(".json").exists()
    loaded = load_model(path)
    assert _same_weights(loaded, parity_model)
    with torch.no_grad():
        out = loaded(parity_io["mixture"], prompt_sets["dme"])
    assert max_rel_error(out, parity_io["wave_out.dme"][..., :48000]) < PARITY_RTOL
    assert _same_weights(load_model(tmp_path), parity_model)  # a folder holding one model


def test_corrupt_checkpoint_names_the_file(parity_dir, tmp_path):
    shutil.copy(parity_dir / "hparams.yaml", tmp_path / "hparams.yaml")
    (tmp_path / "model.pth").write_bytes(b"\x80\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match=r"model\.pth: not a readable"):
        load_model(tmp_path / "model.pth")


def test_missing_key_is_named(parity_dir, tmp_path):
    state = _official_state(parity_dir)
    del state["model.separator.cond_tse_module.0.frame_path.attn.qkv.weight"]
    torch.save(state, tmp_path / "model.pth")
    shutil.copy(parity_dir / "hparams.yaml", tmp_path / "hparams.yaml")
    with pytest.raises(CheckpointError, match="missing key 'cond_tse_module.0.frame_path.attn.qkv.weight'"):
        load_model(tmp_path / "model.pth")


def test_shape_mismatch_is_named(parity_dir, tmp_path):
    state = _official_state(parity_dir)
    state["model.separator.sos_token"] = torch.zeros(32, 1, 1)
    torch.save(state, tmp_path / "model.pth")
    shutil.copy(parity_dir / "hparams.yaml", tmp_path / "hparams.yaml")
    with pytest.raises(CheckpointError, match=r"'sos_token' has shape \(32, 1, 1\)"):
        load_model(tmp_path / "model.pth")


def test_missing_hparams_and_missing_default(tmp_path, monkeypatch):
    torch.save({"sos_token": torch.zeros(1)}, tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match="no hparams.yaml"):
        load_model(tmp_path / "model.pth")
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="pass --checkpoint"):
        load_model("default")
