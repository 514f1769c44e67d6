"""An audition: one programme, the plan its preset runs, its cached separation, and what the page asks of
them (the overview, a region's sources as a stereo fold-down, the preset's real render of a region, a save).

Every source the page plays is looked up by name in `sources`; nothing here takes a path from the page
but the file name of a save, which stays in the save folder.
"""

from __future__ import annotations

import math
import re
import shlex
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_fx.audition.cache import CacheEntry, CachedSeparation, build_entry, cache_key, open_entry, read_frames
from tuss_fx.audition.replaced import Replaced
from tuss_fx.audition.preset_file import tuned_preset_text
from tuss_fx.errors import TussFxError
from tuss_fx.measure.loudness import LoudnessMeter, k_weighting
from tuss_fx.media.audio_io import AudioInfo, read_blocks
from tuss_fx.media.layout import engine_channels as separated_channels
from tuss_fx.media.layout import stereo_fold_down
from tuss_fx.media.temp_files import write_atomically
from tuss_fx.media.timecode import ProgrammeClock, programme_clock
from tuss_fx.mix.plan import RemixPlan, choose_plan
from tuss_fx.mix.automation import linear_gain
from tuss_fx.mix.presets import Preset, StemSettings, load_preset, parse_preset, preset_text
from tuss_fx.mix.remix import remix_probed, write_lanes
from tuss_fx.mix.replace import Replacement
from tuss_fx.mix.request import RemixRequest

ORIGINAL = "original"  # the input itself, the page's A/B source
PREVIEW = "preview"  # the preset's render of the loaded region
MAX_REGION_SECONDS = 300.0  # one region in the page: 5 min of stereo float at 48 kHz is 115 MB per source
DEFAULT_REGION_SECONDS = 60.0
REGION_CONTEXT_SECONDS = 3.0  # heard before and after the most buried stretch, so the line has its lead-in
_SAVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.toml")


class AuditionError(TussFxError):
    """A request the audition cannot serve: a bad region, gains or save name (HTTP 400)."""


@dataclass
class Audition:
    """What `tuss-fx audition` serves. gains are dB per source of `sources` (-inf: muted)."""

    info: AudioInfo
    plan: RemixPlan
    entry: CacheEntry
    clock: ProgrammeClock
    preset_source: str  # where the preset came from (a shipped name or a file)
    preset_text: str  # its TOML, which a save keeps but for the gains
    save_path: Path  # the default save target; the page may choose another name in its folder
    command_options: tuple[str, ...] = ()  # --checkpoint/--plan/--audio-track a remix of the save needs
    separator_name: str = ""
    dialogue_engine: str = ""
    replaced: Replaced | None = None  # stems replaced by recordings (audition.replaced), each with a fader
    _preview: tuple[int, int, np.ndarray] | None = None  # (first frame, frames, (2, n)) of the last render

    def __post_init__(self) -> None:
        self.fold = stereo_fold_down(self.info.channel_layout or ("FL", "FR")[: self.info.num_channels])  # (2, C)

    @property
    def sources(self) -> list[str]:
        """The faders: the plan's stems, then the residual (stems plan) or background (dialogue plan), then the
        new stem of each replacement ("speech (new)")."""
        return [*self.plan.preset.source_names, *(placed.name for placed in self._placed)]

    def preset_gains(self) -> dict[str, float]:
        """The faders' starting points: the preset's gains; a replaced stem's gain is its new stem's, and the
        original stem starts muted (the faders play the replaced mix, the A/B's other side the original)."""
        gains = {name: self.plan.preset.stem(name).gain_db for name in self.plan.preset.source_names}
        for placed in self._placed:
            gains[placed.name], gains[placed.stem] = gains[placed.stem], -math.inf
        return gains

    def default_region(self) -> tuple[float, float]:
        """(start, end) seconds: the most buried stretch with a little before and after, else the first minute."""
        duration = self.info.duration_seconds
        clarity = self.entry.clarity()
        worst = clarity.worst_regions(1) if clarity is not None else []
        if not worst:
            return 0.0, min(duration, DEFAULT_REGION_SECONDS)
        start = max(0.0, worst[0].start_seconds - REGION_CONTEXT_SECONDS)
        end = min(duration, worst[0].end_seconds + REGION_CONTEXT_SECONDS, start + MAX_REGION_SECONDS)
        return round(start, 3), round(end, 3)

    def region(self, first_frame: int, num_frames: int) -> tuple[int, int]:
        """Check a region the page asks for: inside the programme, at most MAX_REGION_SECONDS."""
        limit = round(MAX_REGION_SECONDS * self.info.sample_rate)
        if not (0 <= first_frame < self.info.num_frames and 0 < num_frames <= limit
                and first_frame + num_frames <= self.info.num_frames):
            raise AuditionError("region", f"frames {first_frame}+{num_frames} are not a region of at most "
                                          f"{MAX_REGION_SECONDS:g} s inside the {self.info.num_frames} frames")
        return first_frame, num_frames

    def listen(self, name: str, first_frame: int, num_frames: int) -> np.ndarray:
        """(2, n) float32: source `name` (a fader's source, ORIGINAL or PREVIEW) over the region, folded to stereo.

        Raises:
            KeyError: no such source (or no preview of this region rendered yet).
            AuditionError: a bad region.
        """
        first_frame, num_frames = self.region(first_frame, num_frames)
        if name == PREVIEW:
            if self._preview is None or self._preview[:2] != (first_frame, num_frames):
                raise KeyError(name)
            return self._preview[2]
        if name != ORIGINAL and name not in self.sources:
            raise KeyError(name)
        # only what the source needs is read: one stem, or the input, or (the rest) the input and every stem
        placed = self.replaced and self.replaced.by_name(name)
        if placed:
            signal = read_frames(placed.path, first_frame, num_frames)
        elif name in self.entry.stem_names:
            signal = self.entry.read_stem(name, first_frame, num_frames)
        elif name == ORIGINAL:
            signal = self._read_mixture(first_frame, num_frames)
        else:
            mixture, stems = self._read(first_frame, num_frames)
            signal = mixture - stems.sum(axis=0)  # the residual or the background
        return self.fold @ signal

    def loudness(self, first_frame: int, num_frames: int, gains_db: dict[str, float]) -> dict[str, float | None]:
        """Integrated loudness (LUFS, BS.1770 on the input's own layout) of the region's original and of the
        faders' mix at `gains_db`, for the page's loudness-matched A/B; None where it cannot be measured."""
        gains = self._gains(gains_db)
        first_frame, num_frames = self.region(first_frame, num_frames)
        mixture, stems = self._read(first_frame, num_frames)
        sources = [*stems, mixture - stems.sum(axis=0),
                   *(read_frames(placed.path, first_frame, num_frames) for placed in self._placed)]
        mix = sum(linear_gain(gains[name]) * source for name, source in zip(self.sources, sources))
        return {"original_lufs": _integrated(mixture, self.info), "mix_lufs": _integrated(mix, self.info)}

    def render_preview(self, first_frame: int, num_frames: int, gains_db: dict[str, float]) -> dict:
        """Run the real remix (chains, ride, loudness target, ceiling) over the region with these gains, on
        the cached stems, and keep its stereo fold-down as the PREVIEW source. Returns remix's numbers."""
        first_frame, num_frames = self.region(first_frame, num_frames)
        plan = self._plan_with(gains_db)
        excerpt = self.info.excerpt(first_frame, num_frames)
        with tempfile.TemporaryDirectory(prefix="tuss-fx-preview-") as folder:
            output = Path(folder) / "preview.wav"
            # a replaced stem: its new stem as placed over the whole programme, cut to the region, as it is
            replacements = tuple(Replacement(placed.stem, placed.path, cut=True) for placed in self._placed)
            report = remix_probed(CachedSeparation(self.entry, first_frame, self.separator_name,
                                                   self.dialogue_engine),
                                  plan, excerpt, RemixRequest(output, "wav32f", replacements=replacements, match="off"))
            rendered, _ = sf.read(output, dtype="float32", always_2d=True)
        self._preview = (first_frame, num_frames, self.fold @ rendered.T)
        return {"frames": num_frames, "output_lufs": _finite(report.output_lufs),
                "input_lufs": _finite(report.input_lufs), "loudness_gain_db": report.loudness_gain_db,
                "limited": report.limited, "gains": report.gains, "ride": report.ride}

    def save(self, gains_db: dict[str, float], name: str | None = None, overwrite: bool = False,
             automation: bool = False) -> dict:
        """Write the loaded preset with these gains as a TOML preset (checked by the preset loader, written
        atomically, never over a file unless `overwrite`) in the save folder; with `automation`, the plan's
        fader lanes as MIDI beside it. Returns the paths and the commands that run it."""
        name = name or self.save_path.name
        if not _SAVE_NAME.fullmatch(name):  # a file name, never a path: saves stay in the save folder
            raise AuditionError(name, "a preset name is letters, digits, '.', '_' or '-', ending in .toml")
        target = self.save_path.parent / name
        midi = target.with_suffix(".mid") if automation else None
        for path in (target, *([midi] if midi else [])):
            if path.exists() and not overwrite:
                raise AuditionError(path, "exists already; tick overwrite to replace it")
        if overwrite:
            _check_replaceable(target, midi)
        gains = self._stem_gains(gains_db)
        text = tuned_preset_text(self.preset_text, target.stem, self.plan, gains, self.info.path.name)
        parse_preset(tomllib.loads(text), str(target), target.parent)  # what remix will load, checked first
        write_atomically(target, lambda tmp: Path(tmp).write_text(text))
        if midi:
            write_lanes(midi, self._plan_with(gains_db), None, self.info.duration_seconds)
        options = " ".join(map(shlex.quote, (*self.command_options,
                                             *(self.replaced.command_options() if self.replaced else ()))))
        preset_option = f"--preset {shlex.quote(str(target))}" + (f" {options}" if options else "")
        automation_option = f" --automation {shlex.quote(str(midi))}" if midi else ""
        return {"preset": str(target), "automation": str(midi) if midi else None,
                "commands": [f"tuss-fx remix {shlex.quote(str(self.info.path))} {preset_option}{automation_option}",
                             f"tuss-fx batch {shlex.quote(str(self.info.path.parent))} -o remixed/ {preset_option}"]}

    def overview(self) -> dict:
        """Everything the page draws before a region is loaded (peaks and DBR computed here, not in the page)."""
        record = self.entry.record
        peaks = record["peaks"]
        rest = self.plan.preset.residual_name
        clarity = record.get("clarity")
        start, end = self.default_region()
        return {
            "programme": self.info.path.name, "sample_rate": self.info.sample_rate,
            "num_frames": self.info.num_frames, "num_channels": self.info.num_channels,
            "layout": list(self.info.channel_layout), "preset": self.preset_source, "plan": self.plan.describe(),
            "sources": self.sources, "gains_db": {k: _json_db(v) for k, v in self.preset_gains().items()},
            "peaks": {ORIGINAL: peaks["original"], **{name: peaks[name] for name in self.entry.stem_names},
                      rest: peaks["rest"], **{placed.name: placed.peaks for placed in self._placed}},
            "replacements": [{"fader": placed.name, **placed.summary} for placed in self._placed],
            "clarity": clarity and {**clarity, "regions": [[r.start_seconds, r.end_seconds]
                                                            for r in self.entry.clarity().regions()]},
            "clock": {"start_seconds": self.clock.start_seconds,
                      "frame_rate": [self.clock.frame_rate.numerator, self.clock.frame_rate.denominator]
                      if self.clock.frame_rate else None, "drop_frame": self.clock.drop_frame},
            "default_region": [start, end], "max_region_seconds": MAX_REGION_SECONDS,
            "save_name": self.save_path.name, "save_folder": str(self.save_path.parent),
            "k_weighting": _k_weighting(self.info.sample_rate),
        }

    def _gains(self, gains_db: dict[str, float]) -> dict[str, float]:
        """Every source's gain, checked: a number up to +24 dB (the preset loader's bound) or -inf."""
        if not isinstance(gains_db, dict) or set(gains_db) - set(self.sources):
            raise AuditionError("gains", f"gains are dB for the sources {', '.join(self.sources)}")
        gains = self.preset_gains()
        for name, value in gains_db.items():
            value = -math.inf if value in (None, "-inf") else value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value > 24.0:
                raise AuditionError(f"gains.{name}", f"{value!r} is not a gain in dB (at most +24, or -inf)")
            gains[name] = float(value)
        return gains

    def _stem_gains(self, gains_db: dict[str, float]) -> dict[str, float]:
        """The plan's sources' gains as a remix runs them: a replaced stem takes its new stem's fader (a
        remix with --replace puts the recording through the stem's chain and gain)."""
        gains = self._gains(gains_db)
        for placed in self._placed:
            gains[placed.stem] = gains.pop(placed.name)
        return gains

    def _plan_with(self, gains_db: dict[str, float]) -> RemixPlan:
        preset: Preset = self.plan.preset
        gains = self._stem_gains(gains_db)
        stems = {name: StemSettings(gains[name], preset.stem(name).chain) for name in preset.source_names}
        return replace(self.plan, preset=replace(preset, stems=stems))

    @property
    def _placed(self):
        return self.replaced.stems if self.replaced else ()

    def _read(self, first_frame: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """The region's mixture (C, n) and stems (P, C, n)."""
        return self._read_mixture(first_frame, num_frames), self.entry.read_stems(first_frame, num_frames)

    def _read_mixture(self, first_frame: int, num_frames: int) -> np.ndarray:
        """(C, n): the region of the input (a seek, not a read from the start)."""
        return np.concatenate(list(read_blocks(self.info.excerpt(first_frame, num_frames))), axis=1)


def _check_replaceable(preset: Path, midi: Path | None) -> None:
    """A save replaces only what a save writes: a file that loads as a preset, and a MIDI file beside it.
    Anything else (pyproject.toml, a notes file given a .mid name) is refused, overwrite or not."""
    if preset.exists():
        try:
            parse_preset(tomllib.loads(preset.read_text()), str(preset), preset.parent)
        except (TussFxError, ValueError, TypeError, KeyError, OSError):  # ValueError: not TOML, not UTF-8
            raise AuditionError(preset, "is not a tuss-fx preset; a save replaces only a preset") from None
    if midi is not None and midi.exists():
        with open(midi, "rb") as handle:
            if handle.read(4) != b"MThd":
                raise AuditionError(midi, "is not a MIDI file; a save replaces only its own automation")


def _integrated(signal: np.ndarray, info: AudioInfo) -> float | None:
    try:
        meter = LoudnessMeter(info.sample_rate, info.num_channels)
    except ValueError:
        return None
    meter.push(signal.astype(np.float32))
    try:
        return _finite(meter.integrated_lufs())
    except ValueError:
        return None  # shorter than one 400 ms block


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _json_db(value: float) -> float | str:
    return "-inf" if value == -math.inf else value


def _k_weighting(sample_rate: int) -> list[dict]:
    """BS.1770's K-weighting at this rate, as our meters run it, for the page's live meter to run in IIR
    filters: [{b, a, gain}] in order."""
    return [{"b": b.tolist(), "a": a.tolist(), "gain": float(gain)} for b, a, gain in k_weighting(sample_rate)]


def prepare_audition(info: AudioInfo, preset_ref: str | Path, separator, plan: str | None = None,
                     engine_channels: str = "front", save_path: Path | None = None,
                     command_options: tuple[str, ...] = (), root: Path | None = None, use_cache: bool = True,
                     progress=None) -> tuple[Audition, bool]:
    """An Audition of `info` under the plan `preset_ref` runs on `separator` (a Separator): its stems from the
    cache, else separated into it (one pass, with progress). Returns (audition, whether the cache had it).

    Raises:
        PresetError: a bad preset, or one the model cannot serve. AudioReadError: a bad input.
    """
    preset = load_preset(preset_ref)
    source, text = preset_text(preset_ref)
    ran = choose_plan(preset, separator, plan)
    ran.preset.check_prompts(separator.prompts)
    channels = separated_channels(info.channel_layout, engine_channels) if info.channel_layout else None
    key = cache_key(info, separator, ran.preset.prompts, channels)
    entry = open_entry(key, ran.preset.stem_names, root) if use_cache else None
    cached = entry is not None
    if entry is None:
        entry = build_entry(key, separator, info, ran.preset.prompts, ran.preset.stem_names, channels, progress, root)
    clock = programme_clock(info.path, info.sample_rate, info.audio_track is not None)
    audition = Audition(info, ran, entry, clock, source, text,
                        (save_path or Path(f"{info.path.stem}.audition.toml")).absolute(), command_options,
                        separator.name, separator.dialogue_engine)
    return audition, cached
