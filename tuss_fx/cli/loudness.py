"""tuss-fx loudness: a programme's delivery loudness, and whether it meets a spec."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tuss_fx.cli.options import AUDIO_TRACK_OPTION
from tuss_fx.report.delivery import SPECS

SPEC_FAILED_EXIT = 3  # measured, and a spec asked for is not met (1 is an error, 2 a usage error)


@click.command("loudness")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--spec", "specs", multiple=True, type=click.Choice(list(SPECS)),
              help="Check against a delivery spec (repeatable): ebu-r128 -23 LUFS ±0.5, -1 dBTP; atsc-a85 -24 LKFS "
                   "±2, -2 dBTP; streaming -27 LKFS dialogue-gated ±2, -2 dBTP; podcast -16 LUFS ±1, -1 dBTP.")
@click.option("--dialogue-stem", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="INPUT's dialogue stem (e.g. speech.wav from `tuss-fx separate`) to gate by [default: "
                   "DeepFilterNet3 finds the dialogue].")
@click.option("--no-dialogue", is_flag=True, help="Skip the dialogue-gated loudness (no dialogue engine run).")
@click.option("--threshold-lu", type=float, default=None,
              help="Dialogue-to-background ratio under which a line counts as buried [default: 10 LU, the floor "
                   "of Torcoli et al.'s advice for speech over music (JAES 67(12), 2019); raise it for older and "
                   "hard-of-hearing audiences].")
@AUDIO_TRACK_OPTION
@click.option("--device", default="cpu", show_default=True, help="Where the dialogue engine runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers and results as JSON.")
def loudness(input_path, specs, dialogue_stem, no_dialogue, threshold_lu, audio_track, device, as_json) -> None:
    """Integrated, dialogue-gated and short-term loudness, loudness range (EBU Tech 3342), true peak and
    the dialogue-to-background ratio over time (the share of dialogue buried under --threshold-lu and
    the worst stretches, in the programme's own timecode) of INPUT; with --spec, a PASS/FAIL line per
    spec and exit status 3 if one fails."""
    from tuss_fx.media.audio_io import probe
    from tuss_fx.media.timecode import programme_clock
    from tuss_fx.report.delivery import DialogueStem, DialogueTracker, check, measure

    info = probe(input_path, audio_track)
    if dialogue_stem:
        dialogue = DialogueStem(probe(dialogue_stem), info)
    elif no_dialogue:
        dialogue = None
    else:
        dialogue = DialogueTracker(info.sample_rate, info.num_channels, info.num_frames, device)
    measured = measure(info, dialogue, threshold_lu)
    clock = programme_clock(info.path, info.sample_rate, info.audio_track is not None)
    results = [check(SPECS[name], measured) for name in specs]
    if as_json:
        click.echo(json.dumps({"input": str(input_path), **measured.as_dict(clock),
                               "specs": {r.spec.name: {"passed": r.passed, "measured_lufs": r.measured_lufs,
                                                       "target_lufs": r.spec.target_lufs,
                                                       "tolerance_lu": r.spec.tolerance_lu,
                                                       "max_true_peak_dbtp": r.spec.max_true_peak_dbtp}
                                         for r in results}}, indent=1))
    else:
        for line in _report_lines(input_path, measured, clock):
            click.echo(line)
        for result in results:
            click.echo(result.line(measured.true_peak_dbtp))
    if not all(result.passed for result in results):
        sys.exit(SPEC_FAILED_EXIT)


def _report_lines(path: Path, measured, clock) -> list[str]:
    def lufs(value, unit="LUFS") -> str:
        return "n/a" if value is None or value != value or value in (float("inf"), float("-inf")) \
            else f"{value:.1f} {unit}"

    gated = "not measured" if measured.dialogue_share is None else \
        f"{lufs(measured.dialogue_gated_lufs)} (dialogue in {measured.dialogue_share:.0%} of the programme)"
    return [str(path),
            f"integrated:      {lufs(measured.integrated_lufs)}",
            f"dialogue-gated:  {gated}",
            f"loudness range:  {measured.loudness_range_lu:.1f} LU",
            f"true peak:       {lufs(measured.true_peak_dbtp, 'dBTP')}",
            f"max momentary:   {lufs(measured.max_momentary_lufs)}",
            f"max short-term:  {lufs(measured.max_short_term_lufs)}",
            *_clarity_lines(measured.clarity, clock)]


def _clarity_lines(clarity, clock) -> list[str]:
    """The dialogue-to-background ratio: median, share buried, and the worst stretches by timecode."""
    if clarity is None:
        return []
    if clarity.median_dbr_lu is None:
        return ["dialogue/background: no dialogue found"]
    lines = [f"dialogue/background: median {clarity.median_dbr_lu:.1f} LU over the dialogue; "
             f"{clarity.buried_share:.0%} of dialogue time under {clarity.threshold_lu:g} LU"]
    for region in clarity.worst_regions():
        worst = "silent dialogue" if region.worst_dbr_lu == float("-inf") else f"down to {region.worst_dbr_lu:.1f} LU"
        lines.append(f"  buried {clock.label(region.start_seconds)} - {clock.label(region.end_seconds)} ({worst})")
    return lines
