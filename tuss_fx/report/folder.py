"""`tuss-fx report`: the report of an existing stem folder (from `separate` or `remix --stems-dir`),
with the mixture and the remix when given."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuss_fx.errors import AudioReadError
from tuss_fx.media.audio_io import AUDIO_SUFFIXES, AudioInfo, probe, read_blocks
from tuss_fx.media.container import is_container
from tuss_fx.report.recorder import ReportRecorder, check_report_target, programme_name


def stem_files(stems_dir: Path) -> dict[str, Path]:
    """Stem name (the file's stem) -> audio file, for the audio files directly in stems_dir."""
    if not stems_dir.is_dir():
        raise AudioReadError(stems_dir, "no such folder")
    files = {path.stem: path for path in sorted(stems_dir.iterdir())
             if path.suffix.lower() in AUDIO_SUFFIXES and not is_container(path) and not path.name.startswith(".")}
    if not files:
        raise AudioReadError(stems_dir, "holds no stem audio files (speech.wav, musicbg.flac, ...)")
    return files


def report_from_folder(
    stems_dir: Path,
    report_path: Path,
    mix_path: Path | None = None,
    remix_path: Path | None = None,
    target_lufs: float | None = None,
    audio_track: int | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Draw the report of the stems in stems_dir; the input is mix_path (its `audio_track` for a
    film) or, without it, the sum of the stems; remix_path adds the output curve.

    Raises:
        AudioReadError: no stems, unreadable files, or files that differ in rate, channels or length.
    """
    check_report_target(report_path, overwrite)
    stems = {name: probe(path) for name, path in stem_files(stems_dir).items()}
    first = next(iter(stems.values()))
    for info in stems.values():
        _check_same(info, first, "the other stems")
    mix = probe(mix_path, audio_track) if mix_path else None
    remix = probe(remix_path, audio_track) if remix_path else None
    for other in filter(None, [mix, remix]):
        _check_same(other, first, "the stems")
    source = mix or first
    title = f"{programme_name(mix) if mix else f'sum of the stems in {stems_dir.name}'}: stems of {stems_dir}"
    recorder = ReportRecorder(source if mix else _sum_info(first, stems_dir), list(stems), title, target_lufs,
                              processed=False, stem_state="written")
    if mix:
        _meter(mix, recorder.input.push)
        for name, info in stems.items():
            _meter(info, recorder.before[name].push)
    else:
        for blocks in zip(*(read_blocks(info) for info in stems.values())):  # same format: same block sizes
            recorder.input.push(np.sum(blocks, axis=0))
            for meter, block in zip(recorder.before.values(), blocks):
                meter.push(block)
    if remix:
        _meter(remix, recorder.push_output)
    return recorder.write(report_path)


def _meter(info: AudioInfo, push) -> None:
    for block in read_blocks(info):
        push(block)


def _sum_info(first: AudioInfo, stems_dir: Path) -> AudioInfo:
    return AudioInfo(stems_dir, first.sample_rate, first.num_channels, first.num_frames)


def _check_same(info: AudioInfo, reference: AudioInfo, what: str) -> None:
    for field, unit in (("sample_rate", " Hz"), ("num_channels", " channels"), ("num_frames", " samples")):
        if getattr(info, field) != getattr(reference, field):
            raise AudioReadError(info.path, f"has {getattr(info, field)}{unit} where {what} have "
                                 f"{getattr(reference, field)}{unit} ({reference.path.name})")
