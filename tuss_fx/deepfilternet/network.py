"""DeepFilterNet3's network (Schröter et al., Interspeech 2023): encoder, ERB-gain and DF decoders.

The three parts mirror the three graphs of the upstream ONNX export (enc, erb_dec, df_dec of
Rikorose/DeepFilterNet at d375b2d), whose batch norms are already folded into the 1x1 convs.
Every layer is causal in time; the runtime feeds it one frame at a time, we feed it a chunk of
T frames and carry the state across chunks instead, which gives the same numbers:
- convolutions with a time kernel kt keep their last kt - 1 input frames (zeros at the start,
  like the graphs' own causal Pad);
- GRUs keep their hidden state (zeros at the start, like the graphs' initial state).

Axis letters: B batch, T frames, F frequency (ERB bands or DF bins), D features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

CONV_CH = 64  # conv_ch of the DFN3 config
NUM_ERB = 32  # nb_erb: ERB bands of the gain stage
NUM_DF = 96  # nb_df: lowest STFT bins refined by deep filtering
DF_ORDER = 5  # df_order: taps of the complex filter, 2 past, current, 2 ahead
EMB_DIM = CONV_CH * NUM_ERB // 4  # 512: the embedding both decoders read
HIDDEN_DIM = 256  # emb_hidden_dim = df_hidden_dim
LSNR_MIN_DB, LSNR_MAX_DB = -15.0, 35.0  # lsnr_min/lsnr_max: range of the local-SNR head


class GroupedLinear(nn.Module):
    """Block-diagonal linear map: D_in split into G groups, each mapped alone (no bias)."""

    def __init__(self, in_dim: int, out_dim: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(groups, in_dim // groups, out_dim // groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D_in) -> (B, T, D_out)."""
        grouped = x.unflatten(-1, (self.groups, -1))  # (B, T, G, D_in/G)
        return torch.einsum("btgi,gih->btgh", grouped, self.weight).flatten(2)


class SeparableConv(nn.Module):
    """A grouped (k_t, k_f) conv, then a 1x1 conv with bias (the folded batch norm), then ReLU.

    `transposed` makes the first conv a frequency-upsampling transposed conv (stride 2), as the
    ERB decoder's convt1/convt2. With `pointwise=False` (erb_conv0, one input channel, so
    nothing to separate) the first conv carries the bias itself.
    """

    def __init__(self, in_ch: int, kernel: tuple[int, int], groups: int, freq_stride: int = 1,
                 out_ch: int = CONV_CH, transposed: bool = False, pointwise: bool = True) -> None:
        super().__init__()
        self.time_kernel = kernel[0]
        self.freq_stride = freq_stride
        self.transposed = transposed
        if transposed:
            self.conv = nn.ConvTranspose2d(in_ch, in_ch, kernel, stride=(1, freq_stride),
                                           padding=(0, kernel[1] // 2), output_padding=(0, 1),
                                           groups=groups, bias=False)
        else:
            self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=(1, freq_stride),
                                  padding=(0, kernel[1] // 2), groups=groups, bias=not pointwise)
        mid_ch = in_ch if transposed else out_ch
        self.pointwise = nn.Conv2d(mid_ch, out_ch, 1) if pointwise else nn.Identity()

    def forward(self, x: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T, F), history: (B, C, k_t - 1, F) or None for k_t == 1 -> (B, D, T, F')."""
        if history is not None:
            x = torch.cat([history, x], dim=2)
        return F.relu(self.pointwise(self.conv(x)))


class SqueezedGRU(nn.Module):
    """Grouped linear in (ReLU), a stacked GRU, optionally a grouped linear out (ReLU)."""

    def __init__(self, in_dim: int, in_groups: int, num_layers: int, out_groups: int | None) -> None:
        super().__init__()
        self.linear_in = GroupedLinear(in_dim, HIDDEN_DIM, in_groups)
        self.gru = nn.GRU(HIDDEN_DIM, HIDDEN_DIM, num_layers=num_layers, batch_first=True)
        self.linear_out = GroupedLinear(HIDDEN_DIM, EMB_DIM, out_groups) if out_groups else None

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, D), hidden: (layers, B, 256) -> ((B, T, D_out), next hidden)."""
        y, hidden = self.gru(F.relu(self.linear_in(x)), hidden)
        if self.linear_out is not None:
            y = F.relu(self.linear_out(y))
        return y, hidden


class Encoder(nn.Module):
    """ERB and complex features -> skip maps e0..e3, embedding, c0 and local SNR (dB)."""

    def __init__(self) -> None:
        super().__init__()
        self.erb_conv0 = SeparableConv(1, (3, 3), groups=1, pointwise=False)
        self.erb_conv1 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH, freq_stride=2)
        self.erb_conv2 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH, freq_stride=2)
        self.erb_conv3 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH)
        self.df_conv0 = SeparableConv(2, (3, 3), groups=2)
        self.df_conv1 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH, freq_stride=2)
        self.df_fc_emb = GroupedLinear(CONV_CH * NUM_DF // 2, EMB_DIM, groups=32)
        self.emb_gru = SqueezedGRU(EMB_DIM, in_groups=16, num_layers=1, out_groups=16)
        self.lsnr_fc = nn.Linear(EMB_DIM, 1)

    def forward(self, feat_erb: torch.Tensor, feat_spec: torch.Tensor, state: "NetworkState"):
        """feat_erb: (B, 1, T, 32), feat_spec: (B, 2, T, 96) (re, im) -> e0..e3, emb, c0, lsnr.

        e0 (B, 64, T, 32), e1 (B, 64, T, 16), e2/e3 (B, 64, T, 8), emb (B, T, 512),
        c0 (B, 64, T, 96), lsnr (B, T) in dB. Updates `state` in place.
        """
        e0 = self.erb_conv0(feat_erb, state.erb_history)
        state.erb_history = torch.cat([state.erb_history, feat_erb], dim=2)[:, :, -2:]
        e1 = self.erb_conv1(e0)
        e2 = self.erb_conv2(e1)
        e3 = self.erb_conv3(e2)
        c0 = self.df_conv0(feat_spec, state.spec_history)
        state.spec_history = torch.cat([state.spec_history, feat_spec], dim=2)[:, :, -2:]
        c1 = self.df_conv1(c0)
        emb = e3.permute(0, 2, 3, 1).flatten(2)  # (B, T, F·D): F outer, channels inner
        emb = emb + F.relu(self.df_fc_emb(c1.permute(0, 2, 3, 1).flatten(2)))
        emb, state.enc_hidden = self.emb_gru(emb, state.enc_hidden)
        lsnr = torch.sigmoid(self.lsnr_fc(emb)).squeeze(-1) * (LSNR_MAX_DB - LSNR_MIN_DB) + LSNR_MIN_DB
        return e0, e1, e2, e3, emb, c0, lsnr


class ErbDecoder(nn.Module):
    """Embedding + skip maps -> ERB gains in [0, 1], (B, T, 32): the first (coarse) stage."""

    def __init__(self) -> None:
        super().__init__()
        self.emb_gru = SqueezedGRU(EMB_DIM, in_groups=16, num_layers=2, out_groups=16)
        self.conv3p = nn.Conv2d(CONV_CH, CONV_CH, 1, groups=CONV_CH)
        self.convt3 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH)
        self.conv2p = nn.Conv2d(CONV_CH, CONV_CH, 1, groups=CONV_CH)
        self.convt2 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH, freq_stride=2, transposed=True)
        self.conv1p = nn.Conv2d(CONV_CH, CONV_CH, 1, groups=CONV_CH)
        self.convt1 = SeparableConv(CONV_CH, (1, 3), groups=CONV_CH, freq_stride=2, transposed=True)
        self.conv0p = nn.Conv2d(CONV_CH, CONV_CH, 1, groups=CONV_CH)
        self.conv0_out = nn.Conv2d(CONV_CH, 1, (1, 3), padding=(0, 1))

    def forward(self, emb, e3, e2, e1, e0, state: "NetworkState") -> torch.Tensor:
        emb, state.erb_hidden = self.emb_gru(emb, state.erb_hidden)
        b, t, _ = emb.shape
        x = emb.view(b, t, e3.shape[-1], CONV_CH).permute(0, 3, 1, 2)  # (B, 64, T, 8)
        x = self.convt3(F.relu(self.conv3p(e3)) + x)
        x = self.convt2(F.relu(self.conv2p(e2)) + x)  # (B, 64, T, 16)
        x = self.convt1(F.relu(self.conv1p(e1)) + x)  # (B, 64, T, 32)
        gains = torch.sigmoid(self.conv0_out(F.relu(self.conv0p(e0)) + x))  # (B, 1, T, 32)
        return gains.squeeze(1)


class DfDecoder(nn.Module):
    """Embedding + c0 -> complex DF coefficients (B, T, 96, 5) for the lowest bins."""

    def __init__(self) -> None:
        super().__init__()
        self.df_gru = SqueezedGRU(EMB_DIM, in_groups=8, num_layers=2, out_groups=None)
        self.df_skip = GroupedLinear(EMB_DIM, HIDDEN_DIM, groups=16)
        self.df_convp = SeparableConv(CONV_CH, (DF_ORDER, 1), groups=2, out_ch=2 * DF_ORDER)
        self.df_out = GroupedLinear(HIDDEN_DIM, NUM_DF * 2 * DF_ORDER, groups=16)

    def forward(self, emb: torch.Tensor, c0: torch.Tensor, state: "NetworkState") -> torch.Tensor:
        hidden, state.df_hidden = self.df_gru(emb, state.df_hidden)
        hidden = hidden + self.df_skip(emb)
        path = self.df_convp(c0, state.c0_history).permute(0, 2, 3, 1)  # (B, T, 96, 10)
        state.c0_history = torch.cat([state.c0_history, c0], dim=2)[:, :, -(DF_ORDER - 1):]
        b, t, _ = emb.shape
        coefs = torch.tanh(self.df_out(hidden)).view(b, t, NUM_DF, 2 * DF_ORDER) + path
        coefs = coefs.view(b, t, NUM_DF, DF_ORDER, 2)  # taps oldest first, then (re, im)
        return torch.view_as_complex(coefs.contiguous())


@dataclass
class NetworkState:
    """What the network carries from one chunk of frames to the next, per batch item."""

    erb_history: torch.Tensor  # (B, 1, 2, 32) last ERB feature frames (erb_conv0's k_t - 1)
    spec_history: torch.Tensor  # (B, 2, 2, 96) last complex feature frames (df_conv0)
    c0_history: torch.Tensor  # (B, 64, 4, 96) last c0 frames (df_convp, k_t = 5)
    enc_hidden: torch.Tensor  # (1, B, 256)
    erb_hidden: torch.Tensor  # (2, B, 256)
    df_hidden: torch.Tensor  # (2, B, 256)

    @classmethod
    def zeros(cls, batch: int, device: torch.device, dtype: torch.dtype) -> "NetworkState":
        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, device=device, dtype=dtype)

        return cls(z(batch, 1, 2, NUM_ERB), z(batch, 2, 2, NUM_DF), z(batch, CONV_CH, DF_ORDER - 1, NUM_DF),
                   z(1, batch, HIDDEN_DIM), z(2, batch, HIDDEN_DIM), z(2, batch, HIDDEN_DIM))


class DeepFilterNet3(nn.Module):
    """The whole network: features of T frames -> (ERB gains, DF coefficients, local SNR)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = Encoder()
        self.erb_dec = ErbDecoder()
        self.df_dec = DfDecoder()

    def forward(self, feat_erb: torch.Tensor, feat_spec: torch.Tensor, state: NetworkState):
        """feat_erb: (B, T, 32); feat_spec: (B, T, 96) complex; state updated in place.

        Returns gains (B, T, 32) in [0, 1], coefs (B, T, 96, 5) complex, lsnr (B, T) dB.
        """
        spec = torch.view_as_real(feat_spec).permute(0, 3, 1, 2)  # (B, 2, T, 96)
        e0, e1, e2, e3, emb, c0, lsnr = self.enc(feat_erb.unsqueeze(1), spec, state)
        gains = self.erb_dec(emb, e3, e2, e1, e0, state)
        coefs = self.df_dec(emb, c0, state)
        return gains, coefs, lsnr
