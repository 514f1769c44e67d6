"""TUSS hyperparameters: one frozen dataclass that reads and writes an official hparams.yaml."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

OFFICIAL_PROMPTS = ("speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg")


class ConfigError(ValueError):
    """An hparams mapping that does not describe a TUSS model tuss-fx can build."""


@dataclass(frozen=True)
class FFNConfig:
    """One SwiGLU conv-deconv FFN (TUSS.md, TF-Locoformer block)."""

    dim_inner: int
    conv1d_kernel: int
    conv1d_shift: int = 1


@dataclass(frozen=True)
class BlockConfig:
    """One TF-Locoformer stack: official `conf_cross_prompt_module` / `conf_cond_tse_module`."""

    emb_dim: int
    attention_dim: int
    n_heads: int
    num_groups: int
    freq_ffn_config: tuple[FFNConfig, ...]
    frame_ffn_config: tuple[FFNConfig, ...]
    tf_order: str = "ft"
    flash_attention: bool = False

    @property
    def head_dim(self) -> int:
        return self.attention_dim // self.n_heads


@dataclass(frozen=True)
class STFTConfig:
    """Official `encoder_conf` (= `decoder_conf`)."""

    fft_size: int = 2048
    hop_length: int = 512
    window_length: int = 2048
    window_type: str = "sqrt_hann"
    normalize: str | None = None


@dataclass(frozen=True)
class TussConfig:
    """Everything needed to build a TUSS network; field names follow the official hparams."""

    conf_cross_prompt_module: BlockConfig
    conf_cond_tse_module: BlockConfig
    nblocks_cross_prompt_module: int
    nblocks_cond_tse_module: int
    prompts: tuple[str, ...] = OFFICIAL_PROMPTS
    sample_rate: int = 48000
    stft_size: int = 2048
    eps: float = 1.0e-5
    use_sos_token: bool = True
    stft: STFTConfig = field(default_factory=STFTConfig)
    variance_normalization: bool = True
    segment_seconds: float = 6.0

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def emb_dim(self) -> int:
        return self.conf_cross_prompt_module.emb_dim

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> TussConfig:
        """Build from an official hparams.yaml mapping (or our own JSON, which has the same shape).

        Raises:
            ConfigError: a missing or unsupported field, named by its path.
        """
        try:
            model_conf = hparams["model_conf"]
            if hparams.get("model_name", "tuss") != "tuss":
                raise ConfigError(f"model_name {hparams['model_name']!r} is not 'tuss'")
            encoder_conf = hparams.get("encoder_conf", {})
            css_conf = hparams.get("css_conf", {})
            return cls(
                conf_cross_prompt_module=_block_from_dict(model_conf["conf_cross_prompt_module"]),
                conf_cond_tse_module=_block_from_dict(model_conf["conf_cond_tse_module"]),
                nblocks_cross_prompt_module=int(model_conf["nblocks_cross_prompt_module"]),
                nblocks_cond_tse_module=int(model_conf["nblocks_cond_tse_module"]),
                prompts=tuple(model_conf["prompts"]),
                sample_rate=int(model_conf.get("sample_rate", 48000)),
                stft_size=int(model_conf.get("stft_size", 2048)),
                eps=float(model_conf.get("eps", 1.0e-5)),
                use_sos_token=bool(model_conf.get("use_sos_token", True)),
                stft=STFTConfig(**{k: encoder_conf[k] for k in asdict(STFTConfig()) if k in encoder_conf}),
                variance_normalization=bool(hparams.get("variance_normalization", True)),
                segment_seconds=float(css_conf.get("segment_size", 6.0)),
            )
        except KeyError as exc:
            raise ConfigError(f"missing hparams field {exc.args[0]!r}") from None
        except TypeError as exc:
            raise ConfigError(f"unexpected hparams field: {exc}") from None

    def to_hparams(self) -> dict[str, Any]:
        """The official hparams layout, so our JSON and an official yaml read the same way."""
        stft = asdict(self.stft)
        return {
            "model_name": "tuss",
            "model_conf": {
                "conf_cross_prompt_module": _block_to_dict(self.conf_cross_prompt_module),
                "conf_cond_tse_module": _block_to_dict(self.conf_cond_tse_module),
                "nblocks_cross_prompt_module": self.nblocks_cross_prompt_module,
                "nblocks_cond_tse_module": self.nblocks_cond_tse_module,
                "prompts": list(self.prompts),
                "sample_rate": self.sample_rate,
                "stft_size": self.stft_size,
                "eps": self.eps,
                "use_sos_token": self.use_sos_token,
            },
            "encoder_name": "stft",
            "encoder_conf": stft,
            "decoder_name": "stft",
            "decoder_conf": dict(stft),
            "variance_normalization": self.variance_normalization,
            "css_conf": {"segment_size": self.segment_seconds, "sample_rate": self.sample_rate},
        }

    def with_prompts(self, prompts: tuple[str, ...]) -> TussConfig:
        return replace(self, prompts=tuple(prompts))


def _block_from_dict(conf: dict[str, Any]) -> BlockConfig:
    fields = {k: v for k, v in conf.items() if k not in ("freq_ffn_config", "frame_ffn_config")}
    return BlockConfig(
        freq_ffn_config=tuple(FFNConfig(**entry["conf"]) for entry in conf["freq_ffn_config"]),
        frame_ffn_config=tuple(FFNConfig(**entry["conf"]) for entry in conf["frame_ffn_config"]),
        **fields,
    )


def _block_to_dict(block: BlockConfig) -> dict[str, Any]:
    out = asdict(block)
    for key in ("freq_ffn_config", "frame_ffn_config"):
        out[key] = [{"conf": asdict(ffn)} for ffn in getattr(block, key)]
    return out


def _validate(config: TussConfig) -> None:
    for name in ("conf_cross_prompt_module", "conf_cond_tse_module"):
        block: BlockConfig = getattr(config, name)
        if block.emb_dim != config.emb_dim:
            raise ConfigError(f"{name}.emb_dim {block.emb_dim} differs from the cross-prompt emb_dim")
        if block.attention_dim % block.n_heads or block.head_dim % 2:
            raise ConfigError(f"{name}: attention_dim/n_heads must be an even integer")
        if block.emb_dim % block.num_groups:
            raise ConfigError(f"{name}: emb_dim must be divisible by num_groups")
        if block.tf_order not in ("ft", "tf"):
            raise ConfigError(f"{name}.tf_order must be 'ft' or 'tf', got {block.tf_order!r}")
        for ffn in block.freq_ffn_config + block.frame_ffn_config:
            if ffn.conv1d_shift != 1:
                raise ConfigError(f"{name}: conv1d_shift {ffn.conv1d_shift} unsupported (official configs use 1)")
        if len(block.freq_ffn_config) not in (1, 2) or len(block.frame_ffn_config) not in (1, 2):
            raise ConfigError(f"{name}: one or two FFN configs per path")
    if not config.prompts or len(set(config.prompts)) != len(config.prompts):
        raise ConfigError("prompts must be a non-empty list of distinct names")
    if config.stft.fft_size != config.stft_size or config.stft.window_type not in ("sqrt_hann", "hann"):
        raise ConfigError("STFT must be sqrt_hann/hann with fft_size equal to stft_size")


def _stack(emb_dim: int, attention_dim: int, n_heads: int, dim_inner: int, frame_kernel: int) -> BlockConfig:
    return BlockConfig(
        emb_dim=emb_dim,
        attention_dim=attention_dim,
        n_heads=n_heads,
        num_groups=8 if emb_dim % 8 == 0 else 4,
        freq_ffn_config=(FFNConfig(dim_inner, 4),) * 2,
        frame_ffn_config=(FFNConfig(dim_inner, frame_kernel),) * 2,
    )


def medium() -> TussConfig:
    """Official `tuss.medium.2-4src` sizes (TUSS.md, Sizes)."""
    return TussConfig(_stack(64, 128, 4, 384, 1), _stack(64, 96, 4, 256, 4), 4, 2)


def large() -> TussConfig:
    """Official `tuss.large.2-4src` sizes."""
    return TussConfig(_stack(128, 256, 8, 384, 1), _stack(128, 192, 8, 256, 4), 6, 3)


def small() -> TussConfig:
    """tuss-fx's own size: trains on modest hardware, ships inside the repository."""
    return TussConfig(_stack(32, 64, 4, 96, 1), _stack(32, 48, 2, 64, 4), 2, 1)


PRESETS = {"small": small, "medium": medium, "large": large}
