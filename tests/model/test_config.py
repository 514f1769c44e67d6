import pytest
import yaml

from tuss_fx.model import ConfigError, TussConfig, TussModel
from tuss_fx.model.config import PRESETS, large, medium


def test_official_hparams_round_trip(parity_dir):
    hparams = yaml.safe_load((parity_dir / "hparams.yaml").read_text())
    config = TussConfig.from_hparams(hparams)
    assert config.emb_dim == 16 and config.nblocks_cross_prompt_module == 2 and config.nblocks_cond_tse_module == 1
    assert config.conf_cond_tse_module.attention_dim == 24
    assert config.conf_cross_prompt_module.freq_ffn_config[0].conv1d_kernel == 4
    assert TussConfig.from_hparams(config.to_hparams()) == config


@pytest.mark.parametrize(
    "preset, emb_dim, cross, tse, qkv_cross, qkv_tse",
    [(medium, 64, 4, 2, 3 * 128, 3 * 96), (large, 128, 6, 3, 3 * 256, 3 * 192)],
)
def test_official_sizes(preset, emb_dim, cross, tse, qkv_cross, qkv_tse):
    model = TussModel(preset())
    keys = model.separator.state_dict()
    assert keys["sos_token"].shape == (emb_dim, 1, 1)
    assert f"cross_prompt_module.{cross - 1}.freq_path.attn.qkv.weight" in keys
    assert f"cross_prompt_module.{cross}.freq_path.attn.qkv.weight" not in keys
    assert f"cond_tse_module.{tse - 1}.frame_path.attn.qkv.weight" in keys
    assert keys["cross_prompt_module.0.freq_path.attn.qkv.weight"].shape == (qkv_cross, emb_dim)
    assert keys["cond_tse_module.0.frame_path.attn.qkv.weight"].shape == (qkv_tse, emb_dim)
    # cross-prompt time path k=1 (FFN inner 384), TSE time path k=4 (inner 256)
    assert keys["cross_prompt_module.0.frame_path.ffn.0.conv1d.weight"].shape == (768, emb_dim, 1)
    assert keys["cond_tse_module.0.frame_path.ffn.0.conv1d.weight"].shape == (512, emb_dim, 4)


def test_medium_parameter_count_matches_the_official_checkpoint_size():
    # the official medium model.pth is 44.9 MB of fp32 (TUSS.md): about 11 M parameters
    params = sum(p.numel() for p in TussModel(medium()).parameters())
    assert 10.5e6 < params < 11.6e6


def test_all_presets_build_and_round_trip_through_hparams():
    sizes = []
    for preset in PRESETS.values():
        config = preset()
        model = TussModel(config)
        assert model.config == config and TussConfig.from_hparams(config.to_hparams()) == config
        sizes.append(sum(p.numel() for p in model.parameters()))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # small < medium < large


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda h: h["model_conf"].pop("prompts"), "prompts"),
        (lambda h: h["model_conf"]["conf_cond_tse_module"].update(n_heads=5), "attention_dim"),
        (lambda h: h.update(model_name="bslocoformer_stack"), "model_name"),
    ],
)
def test_bad_hparams_are_named(parity_dir, mutate, message):
    hparams = yaml.safe_load((parity_dir / "hparams.yaml").read_text())
    mutate(hparams)
    with pytest.raises(ConfigError, match=message):
        TussConfig.from_hparams(hparams)
