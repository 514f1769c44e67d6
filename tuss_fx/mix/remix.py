"""Remix: per-stem chains and gains, residual, master chain, loudness normalisation, peak ceiling.

Order (DESIGN.md, remix semantics): separate -> per-stem chain -> per-stem gain (static or MIDI
automation) -> sum with the residual -> master chain -> loudness normalisation (BS.1770) ->
true-peak brick-wall limiter -> write. With every gain at 0 dB, no chains and no loudness
target the output is the input: stems + residual = mixture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard

from tuss_fx.errors import AudioWriteError, TussFxError
from tuss_fx.measure.loudness import LoudnessMeter, dialogue_gated_loudness
from tuss_fx.measure.meters import HOP_SECONDS as GATE_HOP_SECONDS
from tuss_fx.measure.speech import SpeechPresence
from tuss_fx.media.audio_io import (AtomicWriter, AudioInfo, WriterGroup, check_targets, concrete_format,
                                    file_extension, format_for, probe, read_blocks)
from tuss_fx.media.bwf import BroadcastOutput, broadcast_output
from tuss_fx.media.layout import dialogue_channels
from tuss_fx.media.layout import engine_channels as separated_channels
from tuss_fx.media.temp_files import write_atomically
from tuss_fx.mix.automation import GainAutomation, lanes_to_midi, linear_gain
from tuss_fx.mix.effects import DEFAULT_BUFFER_SIZE, ChainStream
from tuss_fx.mix.limiter import PeakMap, SpanLimiter
from tuss_fx.mix.plan import RemixPlan, choose_plan
from tuss_fx.mix.presets import Preset
from tuss_fx.mix.replace import replaced_regions, replacement_passes
from tuss_fx.mix.request import RemixRequest
from tuss_fx.mix.ride import GRID_SECONDS as RIDE_GRID_SECONDS
from tuss_fx.mix.ride_pass import RidePass
from tuss_fx.report.recorder import ReportRecorder, check_report_target, programme_name
from tuss_fx.separation.separator import RESIDUAL, Progress, Separator
from tuss_fx.media.sample_queue import SampleQueue

StemSink = Callable[[str, np.ndarray], None]  # (stem name, (C, n) processed stem block)


class RemixStream:
    """Mixture and its stems in, remixed (pre-loudness) audio out, block by block.

    Each source (every stem and the residual) runs its own chain; chains may hold samples back
    (plugin latency), so their outputs queue until all sources have the same samples to sum.
    """

    def __init__(
        self,
        stems: list[str],
        sample_rate: int,
        num_channels: int,
        boards: dict[str, pedalboard.Pedalboard] | None = None,
        gains_db: dict[str, float] | None = None,
        master: pedalboard.Pedalboard | None = None,
        automation: GainAutomation | None = None,
        stem_sink: StemSink | None = None,
        block_samples: int = DEFAULT_BUFFER_SIZE,
        residual_name: str = RESIDUAL,
    ) -> None:
        """
        Args:
            stems: stem names in prompt order; the residual (named residual_name: "background" under
                the dialogue plan) is added as the last source.
            boards / gains_db: per source (stems and "residual"); missing ones: no chain, 0 dB.
            master: chain on the sum. automation: CC lanes overriding gains_db where present.
            stem_sink: receives every processed, gained source block (for --stems-dir).
            block_samples: the fixed block size the chains are fed (effects.ChainStream).
        """
        self.sources = [*stems, residual_name]
        boards, self._gains_db = boards or {}, gains_db or {}
        self._automation, self._sink = automation, stem_sink
        self._sample_rate = sample_rate
        self._chains = {name: ChainStream(boards.get(name, pedalboard.Pedalboard([])), sample_rate, num_channels,
                                          block_samples)
                        for name in self.sources}
        self._positions = dict.fromkeys(self.sources, 0)  # samples out of each chain so far
        self._queues = {name: SampleQueue(num_channels) for name in self.sources}
        self._master = ChainStream(master or pedalboard.Pedalboard([]), sample_rate, num_channels, block_samples)

    @classmethod
    def from_preset(cls, preset: Preset, sample_rate: int, num_channels: int, automation=None, stem_sink=None,
                    block_samples: int = DEFAULT_BUFFER_SIZE):
        sources = preset.source_names
        return cls(preset.stem_names, sample_rate, num_channels,
                   {name: preset.stem(name).board() for name in sources},
                   {name: preset.stem(name).gain_db for name in sources},
                   preset.master_board(), automation, stem_sink, block_samples, preset.residual_name)

    @property
    def latency_samples(self) -> int:
        """Most samples held back: the slowest source chain, then the master chain."""
        return max(chain.latency_samples for chain in self._chains.values()) + self._master.latency_samples

    def gain_description(self, name: str) -> str:
        if self._automation and name in self._automation.lanes:
            return f"automated ({len(self._automation.lanes[name])} CC events)"
        gain = self._gains_db.get(name, 0.0)
        return "muted" if gain == -math.inf else f"{gain:+.1f} dB"

    def push(self, mixture: np.ndarray, stems: np.ndarray) -> np.ndarray:
        """mixture: (C, m); stems: (P, C, m) of the same samples -> (C, k) remixed, k <= m."""
        residual = mixture - stems.sum(axis=0)
        for name, source in zip(self.sources, [*stems, residual]):
            self._queue(name, self._chains[name].push(source))
        return self._master.push(self._mix())

    def finish(self) -> np.ndarray:
        for name in self.sources:
            self._queue(name, self._chains[name].finish())
        head = self._master.push(self._mix())
        return np.concatenate([head, self._master.finish()], axis=1)

    def _queue(self, name: str, processed: np.ndarray) -> None:
        start, count = self._positions[name], processed.shape[1]
        initial_db = self._gains_db.get(name, 0.0)
        if self._automation:
            gains = self._automation.envelope(name, start, count, self._sample_rate, initial_db)
            processed = processed * gains
        else:
            processed = processed * np.float32(linear_gain(initial_db))
        self._positions[name] += count
        if self._sink:
            self._sink(name, processed)
        self._queues[name].push(processed)

    def _mix(self) -> np.ndarray:
        ready = min(queue.size for queue in self._queues.values())
        return sum(queue.pop(ready) for queue in self._queues.values())


@dataclass(frozen=True)
class RemixReport:
    output: Path
    input_lufs: float
    output_lufs: float
    loudness_gain_db: float
    limited: bool
    gains: dict[str, str]
    stems: dict[str, Path]
    plan: RemixPlan
    ride: dict | None = None  # RidePass.summary(): the DBR before and after the ride
    replacements: tuple[dict, ...] = ()  # ReplacementPass.summary() of each stem replaced


def remix_file(separator: Separator, preset: Preset, input_path: Path, request: RemixRequest | Path,
               progress: Progress | None = None) -> RemixReport:
    """Remix one file per `preset` as `request` asks (a RemixRequest, or the output path alone); streaming,
    and all outputs appear together or not at all.

    Pass 1 separates, processes and mixes into a temporary float file while measuring
    loudness and peak; pass 2 (only when a loudness gain or the ceiling needs it) applies the
    gain and the limiter. Memory does not grow with the file length.

    A film input is read from request.audio_track (the output is audio only: film.remix_film writes a
    container). A Broadcast WAV input makes the WAV outputs Broadcast WAVs (its bext and iXML, with each
    file's loudness and coding history). A preset with a [ride] (tuss_fx.mix.ride) separates in a first
    pass, measures where the dialogue is buried and rides the background in the second; request.automation
    replaces the ride.

    Raises:
        PresetError: a prompt the model lacks, or a plan that cannot serve the preset.
        AudioReadError / AudioWriteError: bad input or output.
        TussFxError: a loudness target on a file shorter than one 400 ms loudness block.
    """
    request = RemixRequest.of(request)
    chosen = choose_plan(preset, separator, request.plan, request.automation.lanes if request.automation else ())
    return remix_probed(separator, chosen, probe(input_path, request.audio_track), request, progress)


def remix_probed(separator: Separator, plan: RemixPlan, info: AudioInfo, request: RemixRequest | Path,
                 progress: Progress | None = None) -> RemixReport:
    """remix_file on an input probed already (film.remix_film: probing a film decodes its track), with
    its plan chosen (choose_plan)."""
    request = RemixRequest.of(request)
    output_path, stems_dir = request.output, request.stems_dir
    preset = plan.preset
    automation = _lanes_as_run(request.automation, plan)
    preset.check_prompts(separator.prompts)
    channels = separated_channels(info.channel_layout, request.engine_channels) if info.channel_layout else None
    stem_format = concrete_format(request.stems_format, info.pcm_bits)
    out_format = concrete_format(request.output_format or format_for(output_path), info.pcm_bits)
    if file_extension(out_format) != format_for(output_path) and output_path.suffix.lower() in (".wav", ".flac"):
        raise AudioWriteError(output_path, f"a {output_path.suffix} file cannot hold {out_format}; pick a "
                                           f"{format_for(output_path)} format")
    stem_paths = {name: stems_dir / f"{name}.{file_extension(stem_format)}" for name in preset.source_names} \
        if stems_dir else {}
    check_targets([output_path, *stem_paths.values(), *request.extra_outputs], request.overwrite)
    if request.report:
        check_report_target(request.report, request.overwrite)
    try:
        input_meter = LoudnessMeter(info.sample_rate, info.num_channels)
    except ValueError as exc:
        raise TussFxError(info.path, f"{exc}; a remix measures loudness, so it takes those layouts "
                          "(`separate` takes any)") from None
    gated = preset.loudness_gate == "dialogue" and preset.target_lufs is not None
    mix_meter = LoudnessMeter(info.sample_rate, info.num_channels, GATE_HOP_SECONDS if gated else None)
    dialogue = _dialogue_meter(preset, info) if gated else None
    speech = SpeechPresence(info.sample_rate, info.num_channels, dialogue_channels(info.channel_layout)) \
        if gated else None  # where people speak: the dialogue-gated target's windows (measure.speech)
    recorder = ReportRecorder(info, preset.source_names,
                              f"{programme_name(info)} remixed with {preset.name} ({plan.name} plan)",
                              preset.target_lufs, processed=True, plan=plan.as_dict()) if request.report else None
    broadcast = request.broadcast or broadcast_output(info, f"remix {preset.name} ({separator.name}, speech by "
                                                    f"{separator.dialogue_engine})")
    replacing = replacement_passes(request.replacements, preset.stem_names, len(preset.prompts), info,
                                   request.output, request.match, request.match_eq)
    scratch = AtomicWriter(output_path, info.sample_rate, info.num_channels, "wav32f")  # float pre-master mix
    regions = separator.separate_regions(read_blocks(info), info.sample_rate, info.num_channels, info.num_frames,
                                         preset.prompts, progress, channels)

    def observe_input(mixture: np.ndarray, stems: np.ndarray) -> None:
        input_meter.push(mixture)
        if recorder:
            recorder.push_input(mixture, stems)

    if replacing:  # the input as it came, before a recording takes a stem's place, is what the report calls it
        regions = _observed(regions, observe_input)
    ride = RidePass(preset, info, output_path) if preset.ride and automation is None else None
    try:
        with WriterGroup(stem_paths, info.sample_rate, info.num_channels, stem_format, broadcast) as stem_writers:
            regions = replaced_regions(replacing, regions)
            if ride:
                ride.drain(regions)
                automation, regions = ride.automation(), ride.regions()
                if recorder:
                    recorder.ride_db = ride.curve_db[:: round(GATE_HOP_SECONDS / RIDE_GRID_SECONDS)]
            mixer = RemixStream.from_preset(preset, info.sample_rate, info.num_channels, automation,
                                            _stem_sink(stem_writers, recorder, dialogue))
            speaking = preset.prompts.index("speech") if speech else None
            peaks = PeakMap(info.sample_rate)  # where the mix comes near the ceiling: the limiter's spans

            def mixed(block: np.ndarray) -> None:
                peaks.push(block)
                if recorder:
                    recorder.push_mix(block)

            for mixture, stems in regions:
                if not replacing:
                    observe_input(mixture, stems)
                if speech:
                    speech.push(mixture, stems[speaking])
                _write_measured(scratch, mix_meter, mixer.push(mixture, stems), mixed)
            _write_measured(scratch, mix_meter, mixer.finish(), mixed)
            measured = _lufs(mix_meter)
            if dialogue:
                windows = speech.programme_windows(GATE_HOP_SECONDS)
                measured = dialogue_gated_loudness(mix_meter, dialogue[1], windows).lufs
            gain_db, limited, output_lufs = _finish_output(scratch, preset, mix_meter, peaks, measured, output_path,
                                                           out_format, broadcast, recorder and recorder.push_output)
            if request.write_automation:
                write_lanes(request.write_automation, plan, automation, info.duration_seconds)
    except BaseException:
        scratch.abort()
        raise
    finally:
        if ride:
            ride.close()
        for replacement in replacing:
            replacement.close()
    replaced = tuple(replacement.summary() for replacement in replacing)
    if recorder:
        recorder.replacements.extend(replaced)
        recorder.write(request.report)
    return RemixReport(output_path, _lufs(input_meter), output_lufs, gain_db, limited,
                       {name: mixer.gain_description(name) for name in mixer.sources}, stem_paths, plan,
                       ride.summary() if ride else None, replaced)


def _observed(regions: Iterable[tuple[np.ndarray, np.ndarray]], observe: Callable[[np.ndarray, np.ndarray], None]):
    """The regions as they come, each shown to `observe` first."""
    for mixture, stems in regions:
        observe(mixture, stems)
        yield mixture, stems


def _lanes_as_run(automation: GainAutomation | None, plan: RemixPlan) -> GainAutomation | None:
    """Automation read in the preset's channel order, with each lane under the name of the source it
    rides in the plan that runs (the residual's lane rides the dialogue plan's background)."""
    if automation is None:
        return None
    names = {plan.lane_name(source): source for source in plan.preset.source_names}
    return GainAutomation({names[lane]: events for lane, events in automation.lanes.items() if lane in names},
                          automation.source)


def write_lanes(path: Path, plan: RemixPlan, automation: GainAutomation | None, duration_seconds: float) -> None:
    """The fader lanes `plan` runs, as MIDI in the preset's channel order, written atomically: the
    automation's events, else each source's static gain at the start and the end (what `automation
    template` hands a DAW to draw into, and `--automation` reads back onto the same plan)."""
    lanes = {}
    for source in plan.preset.source_names:
        gain = plan.preset.stem(source).gain_db
        events = automation.lanes.get(source) if automation else None
        lanes[plan.lane_name(source)] = events or [(0.0, gain), (duration_seconds, gain)]
    midi = lanes_to_midi(plan.channels, lanes, duration_seconds)
    write_atomically(path, midi.save)


def _dialogue_meter(preset: Preset, info: AudioInfo) -> tuple[str, LoudnessMeter]:
    """(stem, meter) for dialogue-gated normalisation: the first speech stem as it enters the mix."""
    name = preset.stem_names[preset.prompts.index("speech")]
    return name, LoudnessMeter(info.sample_rate, info.num_channels, GATE_HOP_SECONDS)


def _stem_sink(writers: dict[str, AtomicWriter], recorder: ReportRecorder | None,
               dialogue: tuple[str, LoudnessMeter] | None = None) -> StemSink | None:
    """Where processed stems go: their files (--stems-dir), the report's 'after' meters and the
    dialogue meter of a dialogue-gated loudness target."""
    if not writers and not recorder and not dialogue:
        return None

    def sink(name: str, block: np.ndarray) -> None:
        if writers:
            writers[name].write(block)
        if recorder:
            recorder.push_after(name, block)
        if dialogue and name == dialogue[0]:
            dialogue[1].push(block)

    return sink


def _write_measured(writer: AtomicWriter, meter: LoudnessMeter, block: np.ndarray,
                    also: Callable[[np.ndarray], None] | None = None) -> None:
    meter.push(block)
    if also:
        also(block)
    writer.write(block)


def _lufs(meter: LoudnessMeter) -> float:
    try:
        return meter.integrated_lufs()
    except ValueError:
        return math.nan  # shorter than one loudness block: not measurable


def _finish_output(scratch: AtomicWriter, preset: Preset, mix_meter: LoudnessMeter, peaks: PeakMap, measured: float,
                   output_path: Path, out_format: str, broadcast: BroadcastOutput | None,
                   also: Callable[[np.ndarray], None] | None = None):
    """Commit the scratch mix as is, or run pass 2: loudness gain (to take `measured`, integrated or
    dialogue-gated, to the preset's target), the true-peak limiter where the mix comes near the ceiling
    (mix.limiter), the output's format (dithered PCM, FLAC) and its Broadcast WAV chunks."""
    gain_db = 0.0
    if preset.target_lufs is not None:
        if math.isnan(measured):
            raise TussFxError(output_path, "too short to measure loudness (needs 0.4 s); drop the loudness target")
        if math.isfinite(measured):
            gain_db = preset.target_lufs - measured
        elif preset.loudness_gate == "dialogue":
            raise TussFxError(output_path, "no dialogue found to measure the dialogue-gated loudness target on")
    ceiling = 10 ** (preset.ceiling_db / 20)
    limited = mix_meter.peak * 10 ** (gain_db / 20) > ceiling
    if gain_db == 0.0 and not limited and out_format == "wav32f" and broadcast is None:
        scratch.commit()  # the float scratch file is already the output
        return gain_db, limited, measured
    scratch.close()
    info = probe(scratch.temp_path)
    scale = np.float32(10 ** (gain_db / 20))
    spans = peaks.spans(float(scale), ceiling, info.sample_rate, info.num_frames) if limited else []
    limiter = SpanLimiter(preset.ceiling_db, spans, info.sample_rate, info.num_channels)
    out_meter = LoudnessMeter(info.sample_rate, info.num_channels)
    final = AtomicWriter(output_path, info.sample_rate, info.num_channels, out_format, broadcast)
    try:
        for block in read_blocks(info):
            _write_measured(final, out_meter, _ceiling(limiter.push(block * scale), ceiling), also)
        _write_measured(final, out_meter, _ceiling(limiter.finish(), ceiling), also)
        final.commit()
    except BaseException:
        final.abort()
        raise
    scratch.abort()
    return gain_db, limited, _lufs(out_meter)


def _ceiling(block: np.ndarray, ceiling: float) -> np.ndarray:
    """The limiter's lookahead holds sample peaks under the ceiling; this guarantees it."""
    return np.clip(block, -ceiling, ceiling)
