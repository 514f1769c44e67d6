"""Training corpus from installed Debian data packages: decode, 48 kHz mono, trim, manifest, attribution.

Nothing is downloaded: a source is a package-relative glob under a file-system root, and a
missing package is an error naming the apt-get line. Every clip records its package, path,
licence (from the package's DEP-5 copyright file), sha256, native rate and bandwidth, so
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

from tuss_fx.errors import TussFxError
from tuss_fx.resample import resample

MODEL_RATE = 48000
SILENCE_DB = -50.0  # frames quieter than this (RMS, dBFS) are trimmed from both ends
TRIM_FRAME = 1024
MIN_SECONDS = 0.5
MANIFEST = "manifest.jsonl"


class CorpusError(TussFxError):
    """A source that cannot be built (package not installed, unreadable copyright, ...)."""


@dataclass(frozen=True)
class SourceSpec:
    prompt: str  # prompt class the clips train
    package: str  # Debian package that ships them
    patterns: tuple[str, ...]  # globs relative to the file-system root
    split: str = "train"  # "train" or "heldout"


# DATA.md survey: packages whose audio is plain files. Held-out material never shares a source
# with training: other packages, or (hedgewars) other speakers' voice packs.
_HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices/{}/*.ogg"
_HEDGEWARS_TRAIN_PACKS = ("Classic", "Default", "Default_es", "Default_pl", "Default_ru", "Default_uk", "HillBilly",
                          "Mobster", "Pirate", "Robot", "Russian", "Russian_pl", "Surfer")
_SONIC_PI = "usr/share/sonic-pi/samples/{}"
DEFAULT_SOURCES = (
    SourceSpec("speech", "klettres-data", ("usr/share/klettres/*/alpha/*.ogg", "usr/share/klettres/*/syllab/*.ogg")),
    SourceSpec("speech", "hedgewars-data", tuple(_HEDGEWARS_VOICES.format(p) for p in _HEDGEWARS_TRAIN_PACKS)),
    SourceSpec("speech", "hedgewars-data", tuple(_HEDGEWARS_VOICES.format(p) for p in ("British", "Singer")),
               "heldout"),
    SourceSpec("speech", "asterisk-core-sounds-en-wav", ("usr/share/asterisk/sounds/en_US_f_Allison/*.wav",),
               "heldout"),  # 8 kHz telephone prompts: band-limited, labelled so in the manifest
    SourceSpec("sfx", "minetest-data", ("usr/share/games/minetest/games/*/mods/*/sounds/*.ogg",)),
    SourceSpec("sfx", "hedgewars-data", ("usr/share/games/hedgewars/Data/Sounds/*.ogg",)),
    SourceSpec("sfx", "sonic-pi-samples", (_SONIC_PI.format("perc_*.flac"), _SONIC_PI.format("elec_*.flac")),
               "heldout"),
    SourceSpec("sfxbg", "sonic-pi-samples", (_SONIC_PI.format("ambi_*.flac"),)),
    SourceSpec("sfxbg", "sonic-pi-samples", (_SONIC_PI.format("vinyl_*.flac"),), "heldout"),
    SourceSpec("musicbg", "colobot-common-sounds", ("usr/share/games/colobot/music/*.ogg",)),
    SourceSpec("musicbg", "wesnoth-1.16-music", ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",)),
    SourceSpec("musicbg", "hedgewars-data", ("usr/share/games/hedgewars/Data/Music/*.ogg",)),
    SourceSpec("musicbg", "supertux-data", ("usr/share/games/supertux2/music/*/*.ogg",), "heldout"),
    SourceSpec("musicbg", "sonic-pi-samples", (_SONIC_PI.format("loop_*.flac"),), "heldout"),
)


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


def package_licence(root: Path, package: str) -> str:
    """The first License: field of the package's DEP-5 copyright file.

    Raises:
        CorpusError: the package is not installed (no /usr/share/doc/<package>).
    """
    doc = root / "usr/share/doc" / package
    if not doc.is_dir():
        raise CorpusError(package, f"not installed; run: apt-get install --no-install-recommends {package}")
    copyright_file = doc / "copyright"
    if copyright_file.exists():
        for line in copyright_file.read_text(errors="replace").splitlines():
            if line.startswith("License:") and line.split(":", 1)[1].strip():
                return line.split(":", 1)[1].strip()
    return f"see /usr/share/doc/{package}/copyright"


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
    out_dir: Path, sources: Sequence[SourceSpec] = DEFAULT_SOURCES, root: Path = Path("/"),
    skip_missing: bool = False, progress: Callable[[str], None] | None = None,
) -> list[Clip]:
    """Decode every matching file to 48 kHz mono FLAC under out_dir/<split>/<prompt>/, write the manifest.

    Returns:
        The clips written (also in out_dir/manifest.jsonl and out_dir/ATTRIBUTION.md).
    """
    clips: list[Clip] = []
    for spec in sources:
        try:
            licence = package_licence(root, spec.package)
        except CorpusError:
            if skip_missing:
                continue
            raise
        files = sorted({p for pattern in spec.patterns for p in root.glob(pattern) if p.is_file()})
        for path in files:
            clip = _convert(path, spec, licence, root, out_dir)
            if clip:
                clips.append(clip)
                if progress:
                    progress(clip.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).write_text("".join(json.dumps(asdict(c)) + "\n" for c in clips))
    (out_dir / "ATTRIBUTION.md").write_text(attribution(clips))
    return clips


def _convert(path: Path, spec: SourceSpec, licence: str, root: Path, out_dir: Path) -> Clip | None:
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError):
        return None  # a file libsndfile cannot decode is skipped, not fatal
    mono = trim_silence(resample(audio.mean(axis=1)[None], rate, MODEL_RATE)[0])
    if len(mono) < MIN_SECONDS * MODEL_RATE or not np.isfinite(mono).all():
        return None
    relative = path.relative_to(root).as_posix()
    digest = hashlib.sha256(relative.encode()).hexdigest()[:12]
    target = Path(spec.split) / spec.prompt / f"{spec.package}__{path.stem}__{digest}.flac"
    (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
    peak = np.abs(mono).max()
    sf.write(out_dir / target, mono / peak * 0.9 if peak > 0.9 else mono, MODEL_RATE, subtype="PCM_24")
    return Clip(spec.prompt, spec.split, spec.package, relative, licence,
                hashlib.sha256((out_dir / target).read_bytes()).hexdigest(), rate, rate / 2,
                round(len(mono) / MODEL_RATE, 3), target.as_posix())


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


def load_pools(corpus_dir: Path, split: str) -> dict[str, list[np.ndarray]]:
    """prompt -> clips (mono float32 at 48 kHz) of one split, from the manifest."""
    manifest = corpus_dir / MANIFEST
    if not manifest.exists():
        raise CorpusError(corpus_dir, f"no {MANIFEST}; build the corpus first (tuss-fx corpus build)")
    pools: dict[str, list[np.ndarray]] = defaultdict(list)
    for line in manifest.read_text().splitlines():
        clip = json.loads(line)
        if clip["split"] == split:
            pools[clip["prompt"]].append(sf.read(corpus_dir / clip["path"], dtype="float32")[0])
    return dict(pools)
