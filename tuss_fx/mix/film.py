"""Remix a film container: remix one audio track, then write a copy of the container with that track
replaced (picture, subtitles and other tracks copied packet for packet)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tuss_fx.media.audio_io import check_targets, probe, temp_beside
from tuss_fx.media.remux import AudioEncoding, plan_remux, replace_audio_track
from tuss_fx.mix.plan import choose_plan
from tuss_fx.mix.presets import Preset
from tuss_fx.mix.remix import RemixReport, remix_probed
from tuss_fx.mix.request import RemixRequest
from tuss_fx.report.recorder import check_report_target
from tuss_fx.separation.separator import Progress, Separator

COPY_SHARE = 0.05  # of the progress bar, for writing the film after the separation


def remix_film(separator: Separator, preset: Preset, input_path: Path, request: RemixRequest | Path,
               progress: Progress | None = None) -> tuple[RemixReport, AudioEncoding]:
    """Remix audio track request.audio_track (1-based; None: the first) of a film container into a copy of
    it at request.output, its other tracks per request.film.

    Everything that can refuse (the muxer, the codec, existing outputs) is checked before the
    separation starts. The remix goes to a float WAV beside the output first, then into the copy.

    Raises:
        AudioReadError / AudioWriteError: bad input, output or stream; PresetError: a prompt the model
            lacks, or a plan that cannot serve the preset.
    """
    request = RemixRequest.of(request)
    output_path = request.output
    chosen = choose_plan(preset, separator, request.plan, request.automation.lanes if request.automation else ())
    info = probe(input_path, request.audio_track or 1)
    stem_paths = [request.stems_dir / f"{name}.wav" for name in chosen.preset.source_names] \
        if request.stems_dir else []
    check_targets([output_path, *stem_paths, *request.extra_outputs], request.overwrite)
    if request.report:
        check_report_target(request.report, request.overwrite)
    remux = plan_remux(info, output_path, request.film.audio_codec, request.film.drop_other_audio,
                       request.film.added)
    scratch = temp_beside(output_path)
    # the copy into the film is fast next to separating: it shows as the last COPY_SHARE of the bar
    copy_frames = max(1, int(info.num_frames * COPY_SHARE))
    total = info.num_frames + copy_frames
    copying = (lambda fraction: progress(info.num_frames + int(fraction * copy_frames), total)) if progress else None
    # float: the film's encoder quantises once; the stems as WAV beside it
    into_scratch = replace(request, output=scratch, output_format="wav32f", stems_format="wav", overwrite=True)
    try:
        report = remix_probed(separator, chosen, info, into_scratch,
                              progress and (lambda done, _: progress(done, total)))
        replace_audio_track(remux, replace(probe(scratch), start_seconds=info.start_seconds), copying)
    finally:
        scratch.unlink(missing_ok=True)
    return replace(report, output=output_path), remux.encoding
