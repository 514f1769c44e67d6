"""Remix a film container: remix one audio track, then write a copy of the container with that track
replaced (picture, subtitles and other tracks copied packet for packet)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tuss_fx.media.audio_io import check_targets, probe, temp_beside
from tuss_fx.media.remux import AudioEncoding, plan_remux, replace_audio_track
from tuss_fx.mix.automation import GainAutomation
from tuss_fx.mix.plan import choose_plan
from tuss_fx.mix.presets import Preset
from tuss_fx.mix.remix import RemixReport, remix_probed
from tuss_fx.report.recorder import check_report_target
from tuss_fx.separation.separator import Progress, Separator

COPY_SHARE = 0.05  # of the progress bar, for writing the film after the separation


def remix_film(
    separator: Separator,
    preset: Preset,
    input_path: Path,
    output_path: Path,
    audio_track: int = 1,
    audio_codec: str = "auto",
    drop_other_audio: bool = False,
    automation: GainAutomation | None = None,
    stems_dir: Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    report_path: Path | None = None,
    plan: str | None = None,
    engine_channels: str = "front",
    write_automation: Path | None = None,
) -> tuple[RemixReport, AudioEncoding]:
    """Remix audio track `audio_track` (1-based) of a film container into a copy of it at output_path.

    Everything that can refuse (the muxer, the codec, existing outputs) is checked before the
    separation starts. The remix goes to a float WAV beside the output first, then into the copy.
    plan, engine_channels and write_automation as for remix.remix_file.

    Raises:
        AudioReadError / AudioWriteError: bad input, output or stream; PresetError: a prompt the model
            lacks, or a plan that cannot serve the preset.
    """
    chosen = choose_plan(preset, separator, plan, automation.lanes if automation else ())
    info = probe(input_path, audio_track)
    stem_paths = [stems_dir / f"{name}.wav" for name in chosen.preset.source_names] if stems_dir else []
    check_targets([output_path, *stem_paths, *([write_automation] if write_automation else [])], overwrite)
    if report_path:
        check_report_target(report_path, overwrite)
    plan = plan_remux(info, output_path, audio_codec, drop_other_audio)
    scratch = temp_beside(output_path)
    # the copy into the film is fast next to separating: it shows as the last COPY_SHARE of the bar
    copy_frames = max(1, int(info.num_frames * COPY_SHARE))
    total = info.num_frames + copy_frames
    copying = (lambda fraction: progress(info.num_frames + int(fraction * copy_frames), total)) if progress else None
    try:
        report = remix_probed(separator, chosen, info, scratch, automation, stems_dir, "wav", True,
                              progress and (lambda done, _: progress(done, total)), report_path,
                              output_format="wav32f",  # float: the film's encoder quantises once
                              engine_channels=engine_channels, write_automation=write_automation)
        replace_audio_track(plan, replace(probe(scratch), start_seconds=info.start_seconds), copying)
    finally:
        scratch.unlink(missing_ok=True)
    return replace(report, output=output_path), plan.encoding
