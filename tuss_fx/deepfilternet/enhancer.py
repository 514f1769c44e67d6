"""DeepFilterNet3 as a stream: 48 kHz blocks in, speech out, aligned with the input, flat memory.

The upstream runtime (libDF tract.rs, `DfTract::process`) works hop by hop; this does the same
arithmetic on chunks of frames, carrying every state across chunks, so cutting the input into
blocks changes nothing. Per frame t it:
1. analyses the new hop, computes the features and runs the network on frame t;
2. applies the ERB gains of frame t to the spectrum of frame t - 2 (the network looks 2 frames
   ahead) and replaces its lowest 96 bins by the deep filter: sum over k of the spectrum of frame
   t - 4 + k times tap k (2 past, current, 2 ahead);
3. chooses by the estimated local SNR, with the C API's thresholds: below -15 dB the frame is
   silenced, above 35 dB it passes untouched, otherwise both stages apply;
4. optionally limits the attenuation by mixing the input frame back in;
5. synthesises and overlap-adds.
The runtime's output lags its input by 1440 samples (a window of 960 less one hop, plus two
frames of lookahead); this class removes that lag, so its output lines up sample for sample.

One difference from the runtime: after more than 5 hops of digital silence (mean square below
1e-7) the runtime stops updating its state and outputs zeros; this stream keeps processing.
Both give silence there; only the state after such a gap differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tuss_fx.deepfilternet.features import FFT_SIZE, HOP_SIZE, NUM_DF, FeatureState, FrontEnd
from tuss_fx.deepfilternet.network import DF_ORDER, DeepFilterNet3, NetworkState

SAMPLE_RATE = 48000
LATENCY_SAMPLES = FFT_SIZE - HOP_SIZE + 2 * HOP_SIZE  # 1440: the runtime's output delay
MIN_LSNR_DB = -15.0  # the C API's min_db_thresh: below it, no speech: silence the frame
MAX_LSNR_DB = 35.0  # max_db_erb_thresh = max_db_df_thresh: above it, clean: leave the frame alone
CHUNK_FRAMES = 500  # frames per network call (5 s): bounds memory on long blocks
WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "deepfilternet3.safetensors"


def load_network(path: Path = WEIGHTS_PATH, device: torch.device | str = "cpu") -> DeepFilterNet3:
    """The shipped DFN3 weights (converted by tuss_fx.deepfilternet.convert) in eval mode."""
    from safetensors.torch import load_file

    network = DeepFilterNet3()
    network.load_state_dict(load_file(str(path)))
    return network.eval().to(device)


class DeepFilterNet3Stream:
    """Push (B, n) float32 blocks at 48 kHz; get (B, m) speech back, aligned with the input.

    B independent signals (channels) go through as a batch. Holds at most one chunk of input.
    """

    def __init__(self, network: DeepFilterNet3, batch: int, atten_lim_db: float | None = None) -> None:
        """
        Args:
            network: DFN3 weights, on the device the stream runs on.
            batch: B, signals processed side by side.
            atten_lim_db: at most this much attenuation (the input mixed back in at -atten_lim_db),
                None for none (the runtime's default, 100 dB and above also mean none).
        """
        self.network = network
        self.device = next(network.parameters()).device
        self.front_end = FrontEnd(self.device)
        self.batch = batch
        self.mix_back = None if atten_lim_db is None or atten_lim_db >= 100 else 10 ** (-abs(atten_lim_db) / 20)
        self._features = FeatureState.initial(batch, self.device)
        self._net_state = NetworkState.zeros(batch, self.device, torch.float32)
        self._analysis_memory = torch.zeros(batch, FFT_SIZE - HOP_SIZE, device=self.device)
        self._synthesis_memory = torch.zeros(batch, FFT_SIZE - HOP_SIZE, device=self.device)
        self._past_spectra = torch.zeros(batch, DF_ORDER - 1, FFT_SIZE // 2 + 1, dtype=torch.complex64,
                                         device=self.device)
        self._pending = np.zeros((batch, 0), np.float32)  # input short of a whole hop
        self._to_skip = LATENCY_SAMPLES  # runtime output still ahead of the input's first sample
        self._pushed = self._emitted = 0

    latency_samples = LATENCY_SAMPLES

    @property
    def held_samples(self) -> int:
        """Input held back, short of a whole hop (per channel)."""
        return self._pending.shape[1]

    def push(self, block: np.ndarray) -> np.ndarray:
        """(B, n) -> (B, m): the output samples that became final, in order."""
        self._pushed += block.shape[1]
        self._pending = np.concatenate([self._pending, np.asarray(block, np.float32)], axis=1)
        usable = self._pending.shape[1] // HOP_SIZE * HOP_SIZE
        outputs = [np.zeros((self.batch, 0), np.float32)]
        for start in range(0, usable, CHUNK_FRAMES * HOP_SIZE):
            chunk = self._pending[:, start : min(usable, start + CHUNK_FRAMES * HOP_SIZE)]
            with torch.no_grad():
                raw, _ = self.process_raw(torch.from_numpy(chunk).to(self.device))
            outputs.append(self._aligned(raw))
        self._pending = self._pending[:, usable:]
        return np.concatenate(outputs, axis=1)

    def finish(self) -> np.ndarray:
        """Flush the lookahead with silence; afterwards exactly as many samples came out as went in."""
        pushed, owed = self._pushed, self._pushed - self._emitted
        silence = -(-(pushed + LATENCY_SAMPLES) // HOP_SIZE) * HOP_SIZE - pushed
        tail = self.push(np.zeros((self.batch, silence), np.float32))[:, :owed]
        self._pushed = self._emitted = pushed
        return tail

    def _aligned(self, raw: torch.Tensor) -> np.ndarray:
        out = raw.cpu().numpy()
        skip = min(self._to_skip, out.shape[1])
        self._to_skip -= skip
        out = out[:, skip:]
        self._emitted += out.shape[1]
        return out

    def process_raw(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T·480) float32 -> (B, T·480) exactly as the runtime emits it, 1440 samples late, and the
        network's local SNR estimate of each of the T frames (B, T), in dB. Differentiable: the
        training path (deepfilternet.training) runs this same arithmetic with gradients on."""
        spec, feat_erb, feat_spec = self.analyse(audio)
        gains, coefs, lsnr = self.network(feat_erb, feat_spec, self._net_state)
        return self.synthesise(spec, gains, coefs, lsnr), lsnr

    def analyse(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T·480) -> spectra (B, T, F) complex, ERB features (B, T, 32), complex features (B, T, 96):
        the front end, frame by frame in order (its analysis window and running means carry over)."""
        buffer = torch.cat([self._analysis_memory, audio], dim=1)
        self._analysis_memory = buffer[:, -(FFT_SIZE - HOP_SIZE):]
        spec = self.front_end.analysis(buffer.unfold(1, FFT_SIZE, HOP_SIZE))  # (B, T, F)
        return (spec, self.front_end.erb_features(spec, self._features),
                self.front_end.complex_features(spec, self._features))

    def synthesise(self, spec: torch.Tensor, gains: torch.Tensor, coefs: torch.Tensor,
                   lsnr: torch.Tensor) -> torch.Tensor:
        """The T frames' spectra and the network's outputs for them -> (B, T·480) runtime output: gains,
        deep filter and stage decision applied, synthesised and overlap-added, in order."""
        batch, num_frames = spec.shape[0], spec.shape[1]
        window = torch.cat([self._past_spectra, spec], dim=1)  # (B, T + 4, F): frames t-4 .. t
        self._past_spectra = window[:, -(DF_ORDER - 1):]
        target = window[:, 2 : 2 + num_frames]  # frame t - 2 for each step t
        enhanced = target * self.front_end.bin_gains(gains)
        filtered = sum(window[:, k : k + num_frames, :NUM_DF] * coefs[..., k] for k in range(DF_ORDER))
        enhanced = torch.cat([filtered, enhanced[..., NUM_DF:]], dim=-1)
        stage = lsnr.unsqueeze(-1)
        enhanced = torch.where(stage < MIN_LSNR_DB, torch.zeros_like(enhanced),
                               torch.where(stage > MAX_LSNR_DB, target, enhanced))
        if self.mix_back is not None:
            enhanced = enhanced * (1.0 - self.mix_back) + target * self.mix_back

        frames = self.front_end.synthesis(enhanced)  # (B, T, 960)
        heads = frames[..., :HOP_SIZE]
        tails = torch.cat([self._synthesis_memory.unsqueeze(1), frames[:, :-1, HOP_SIZE:]], dim=1)
        self._synthesis_memory = frames[:, -1, HOP_SIZE:]
        return (heads + tails).reshape(batch, num_frames * HOP_SIZE)
