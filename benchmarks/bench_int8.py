"""TUSS with int8 dynamic quantization of its linears (PyTorch's x86 backend): faster here, and how close?

Usage: python benchmarks/bench_int8.py [--config medium] [--seconds 6] [--repeats 2]

The long-films issue's third lever: on an AVX2 machine GEMMs are most of TUSS's time. Dynamic
quantization stores each linear's weight as int8 (per output channel) and quantizes activations per call.
Every linear of the model goes through tuss_fx.model.ops.linear; for the int8 rows that function is
swapped for one calling `torch.ao.nn.quantized.dynamic.Linear` with the same weights, packed once.
Prints, with the CPU, its capability and its fp32 GEMM throughput (so a figure says which machine made
it): seconds per segment of the fp32 path as shipped and of int8 (best of --repeats, random weights of
--config: cost does not depend on values) and their ratio; then the quality that decides the lever: the
SNR of each int8 stem against the fp32 stem with the shipped default model on a real scene (a reading
over the real suite's strings, 0 dB). The lever is kept only where it is faster and every stem is within
35 dB of fp32.

Measured (AMD EPYC reporting AVX512, 2 threads, 140 GFLOPS fp32 GEMM, 2026-12-04): medium 1.43x faster
with per-channel int8 weights (1.58x per-tensor), but the default model's stems only 27-32 dB from fp32
(sfxbg 26.9, musicbg 29.7, speech 31.9 dB; per-tensor the same within 0.4 dB): not kept. On an AMD EPYC
reporting AVX2 only (2 threads, 143 GFLOPS, 2026-12-05): 1.28x (7.12 vs 5.56 s), the same 26.9 / 29.7 /
31.9 dB. PyTorch also marks these quantized tensor functions deprecated.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audition import cpu_name  # noqa: E402
from bench_model import best_seconds  # noqa: E402
from ride_gates import scene  # noqa: E402

from tuss_fx.model import ops  # noqa: E402
from tuss_fx.model import TussModel  # noqa: E402
from tuss_fx.model.config import PRESETS  # noqa: E402
from tuss_fx.separation.separator import Separator, tune_allocator  # noqa: E402

PROMPTS = ["speech", "sfxbg", "musicbg"]


def gemm_gflops(size: int = 1024, repeats: int = 5) -> float:
    """fp32 GEMM throughput of this machine with torch's threads, in GFLOPS (best of `repeats`)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = best_seconds(lambda: a @ b, repeats)
    return 2 * size ** 3 / seconds / 1e9


def machine_line() -> str:
    return (f"{cpu_name()}, capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads, "
            f"fp32 GEMM {gemm_gflops():.0f} GFLOPS, torch {torch.__version__}")


@contextmanager
def int8_linears():
    """Within the block every ops.linear runs as a dynamically quantized int8 linear (weights packed once)."""
    shipped = ops.linear
    packed: dict[tuple, torch.nn.Module] = {}

    def quantized(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        key = (weight.data_ptr(), tuple(weight.shape), tuple(weight.stride()))
        if key not in packed:
            layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
            with torch.no_grad():
                layer.weight.copy_(weight)
                if bias is not None:
                    layer.bias.copy_(bias)
            packed[key] = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(layer), {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig})
        return packed[key](x)

    ops.linear = quantized
    warnings.simplefilter("ignore")  # torch.ao's deprecation notices, once per layer
    try:
        yield
    finally:
        ops.linear = shipped


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / max(np.sum((estimate - reference) ** 2), 1e-30)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(PRESETS), default="medium")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    tune_allocator()
    print(machine_line())
    torch.manual_seed(0)
    model = TussModel(PRESETS[args.config]()).eval()
    mixture = torch.randn(1, int(args.seconds * model.config.sample_rate)) * 0.1

    def forward():
        with torch.inference_mode():
            return model(mixture, PROMPTS)

    fp32 = best_seconds(forward, args.repeats)
    with int8_linears():
        int8 = best_seconds(forward, args.repeats)
    print(f"{args.config}, {args.seconds:g} s segment: fp32 {fp32:.2f} s, int8 linears {int8:.2f} s = {fp32 / int8:.2f}x")

    separator = Separator.from_pretrained("default", device="cpu", dialogue_engine="tuss")
    mix = sum(scene("ljspeech-female", "strings", 0.0))[None].astype(np.float32)
    rate = separator.model.config.sample_rate

    def stems() -> np.ndarray:
        regions = separator.separate_regions([mix], rate, 1, mix.shape[1], tuple(PROMPTS))
        return np.concatenate([s for _, s in regions], axis=-1)

    reference = stems()
    with int8_linears():
        quantized = stems()
    for index, prompt in enumerate(PROMPTS):
        print(f"default model, {prompt}: int8 against fp32 {snr_db(reference[index], quantized[index]):.1f} dB SNR")


if __name__ == "__main__":
    main()
