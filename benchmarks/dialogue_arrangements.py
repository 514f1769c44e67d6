"""How should DeepFilterNet3 and TUSS share a dialogue/music/effects request? The measurement behind
tuss_fx/separation/dialogue.py, on the real suite of `tuss-fx evaluate-real` (real readings over real music and
effects at 0/-6/-12 dB, and each reading alone).

Usage: python benchmarks/dialogue_arrangements.py [--media tuss_fx/recordings] [--checkpoint default]

Arrangements (speech stem; effects and music stems):
- tuss: TUSS alone on the mix.
- cascade: DFN3 on the mix; TUSS [sfxbg, musicbg] on mix - dialogue.
- parallel: DFN3 on the mix; TUSS [speech, sfxbg, musicbg] on the mix, its speech stem dropped (shipped).
- blend: DFN3 on the mix; the mean of the cascade's and the parallel's effects and music.
- tuss-first: DFN3 on TUSS's speech stem; TUSS's effects and music.
- ...-lim12: DFN3 with a 12 dB attenuation limit.
Prints mean SI-SNRi per class and per ratio, a clean line's kept energy, and the dialogue lift of
the dialogue-boost gains (+5 speech, -4 effects, -6 music, residual at unity): the SI-SNR of the
remix against the clean speech minus the mix's, i.e. how much the remix actually raises dialogue.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tuss_fx.deepfilternet import enhance, load_network  # noqa: E402
from tuss_fx.recordings import RECORDINGS_DIR  # noqa: E402
from tuss_fx.separation.separator import Separator  # noqa: E402
from tuss_fx.train.real_suite import DMX_PROMPTS, Recordings, default_scenes, render, si_snr  # noqa: E402

BOOST_GAINS = np.array([10 ** (5 / 20) - 1, 10 ** (-4 / 20) - 1, 10 ** (-6 / 20) - 1])[:, None]  # stem gain - 1


def arrangements(tuss: Separator, network, mix: np.ndarray) -> dict[str, np.ndarray]:
    """name -> (3, L) speech, sfxbg, musicbg estimates of one mono 48 kHz mix."""
    alone = tuss.separate(mix, 48000, list(DMX_PROMPTS))[:, 0]
    out = {"tuss": alone}
    dialogue_tuss = enhance(network, alone[:1])[0]
    out["tuss-first"] = np.stack([dialogue_tuss, alone[1], alone[2]])
    for suffix, limit in (("", None), ("-lim12", 12.0)):
        dialogue = enhance(network, mix[None], limit)[0]
        rest = tuss.separate(mix - dialogue, 48000, ["sfxbg", "musicbg"])[:, 0]
        out[f"cascade{suffix}"] = np.stack([dialogue, rest[0], rest[1]])
        out[f"parallel{suffix}"] = np.stack([dialogue, alone[1], alone[2]])
        out[f"blend{suffix}"] = np.stack([dialogue, (rest[0] + alone[1]) / 2, (rest[1] + alone[2]) / 2])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=RECORDINGS_DIR)
    parser.add_argument("--checkpoint", default="default")
    args = parser.parse_args()
    recordings = Recordings(args.media, (), ())
    tuss = Separator.from_pretrained(args.checkpoint, device="cpu", dialogue_engine="tuss")
    network = load_network()
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for scene in default_scenes(recordings):
        sources = render(scene, recordings)
        mix = sources.sum(axis=0)
        print(scene.name, file=sys.stderr, flush=True)
        for name, estimate in arrangements(tuss, network, mix).items():
            row = scores[name]
            if not np.isfinite(scene.dbr_db):  # a reading alone: how much of it stays in the speech stem
                row["clean kept dB"].append(10 * np.log10(np.sum(estimate[0].astype(np.float64) ** 2)
                                                          / np.sum(sources[0].astype(np.float64) ** 2)))
                continue
            for index, prompt in enumerate(DMX_PROMPTS):
                if sources[index].any():
                    row[prompt].append(si_snr(estimate[index], sources[index]) - si_snr(mix, sources[index]))
            row[f"speech {scene.dbr_db:+.0f}"].append(row["speech"][-1])
            remix = mix + (BOOST_GAINS * estimate).sum(axis=0)
            row["boost lift"].append(si_snr(remix, sources[0]) - si_snr(mix, sources[0]))
    columns = ["speech", "speech +0", "speech -6", "speech -12", "sfxbg", "musicbg", "clean kept dB", "boost lift"]
    print(f"{'arrangement':<16}" + "".join(f"{c:>14}" for c in columns))
    for name, row in scores.items():
        print(f"{name:<16}" + "".join(f"{np.mean(row[c]):+14.2f}" for c in columns))


if __name__ == "__main__":
    main()
