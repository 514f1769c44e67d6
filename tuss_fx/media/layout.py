"""Channel layouts: which speaker each channel of a file feeds, and which channels carry dialogue.

Labels are FFmpeg's (FL, FR, FC, LFE, BL, BR, SL, SR, ...). A WAV file says its layout in the
WAVE_FORMAT_EXTENSIBLE channel mask; a film track in its container's layout; other files follow
their format's default order for the channel count (WAV and FLAC: the mask order, L R C LFE Ls Rs;
Ogg Vorbis and Opus: L C R Ls Rs LFE, the Vorbis I specification's order).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

LFE = "LFE"
FRONT = ("FL", "FC", "FR")
CENTER = "FC"
# WAVE_FORMAT_EXTENSIBLE dwChannelMask bits in order (Microsoft's KSAUDIO_SPEAKER_* / ksmedia.h)
MASK_SPEAKERS = ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC", "BC", "SL", "SR", "TC", "TFL", "TFC",
                 "TFR", "TBL", "TBC", "TBR")
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# the order a channel count implies where a file states none
MASK_ORDER = {1: ("FC",), 2: ("FL", "FR"), 3: ("FL", "FR", "FC"), 4: ("FL", "FR", "BL", "BR"),
              5: ("FL", "FR", "FC", "BL", "BR"), 6: ("FL", "FR", "FC", "LFE", "BL", "BR"),
              7: ("FL", "FR", "FC", "LFE", "BC", "SL", "SR"), 8: ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR")}
VORBIS_ORDER = {3: ("FL", "FC", "FR"), 5: ("FL", "FC", "FR", "BL", "BR"), 6: ("FL", "FC", "FR", "BL", "BR", "LFE"),
                7: ("FL", "FC", "FR", "SL", "SR", "BC", "LFE"), 8: ("FL", "FC", "FR", "SL", "SR", "BL", "BR", "LFE")}
VORBIS_SUFFIXES = (".ogg", ".oga", ".opus")
MAX_CHUNKS = 64  # chunks looked at before giving up on finding "fmt " (a sane file has it near the start)

# which channels the separation engines get (remix --engine-channels): the three front ones (the
# default: dialogue lives there, and DFN3 finds false dialogue in surround beds; measured best by
# benchmarks/remix_quality.py --surround), every one but the LFE, or the centre alone (loses the
# dialogue a mix spreads into L and R); the others stay whole in the residual (the background)
ENGINE_CHANNELS = ("front", "all", "center")


def channel_layout(path: Path, num_channels: int, container_layout: Sequence[str] | None = None) -> tuple[str, ...]:
    """The speaker of each channel: the container's layout, a WAV's channel mask, else the format's
    default order for the count; channels past what a layout names are "C<n>" (n from 1)."""
    labels = tuple(container_layout or ()) or _wav_mask_layout(path)
    if len(labels) != num_channels:  # none stated, or a mask that does not match the count
        vorbis = VORBIS_ORDER.get(num_channels) if path.suffix.lower() in VORBIS_SUFFIXES else None
        labels = vorbis or MASK_ORDER.get(num_channels, ())
    return tuple(labels[i] if i < len(labels) else f"C{i + 1}" for i in range(num_channels))


def engine_channels(layout: Sequence[str], which: str = "all") -> list[int]:
    """Indices of the channels the separation engines get: never the LFE; "front" keeps FL/FC/FR and
    "center" FC where the layout has them (else every channel but the LFE)."""
    if which not in ENGINE_CHANNELS:
        raise ValueError(f"engine channels must be one of {', '.join(ENGINE_CHANNELS)}, got {which!r}")
    full_range = [i for i, label in enumerate(layout) if label != LFE] or list(range(len(layout)))
    wanted = {"all": None, "front": FRONT, "center": (CENTER,)}[which]
    picked = [i for i in full_range if wanted is None or layout[i] in wanted]
    return picked or full_range


def dialogue_channels(layout: Sequence[str]) -> list[int] | None:
    """The channels a speech detector listens to: the front three where the layout has them (dialogue lives
    there; measure.speech mixes them to mono), else every one but the LFE; None when no layout is known."""
    return engine_channels(layout, "front") if layout else None


def _wav_mask_layout(path: Path) -> tuple[str, ...]:
    """The speakers of a WAVE_FORMAT_EXTENSIBLE file's channel mask; () for anything else or a bad header."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
                return ()
            for _ in range(MAX_CHUNKS):
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return ()
                chunk_id, size = struct.unpack("<4sI", chunk)
                if chunk_id == b"fmt ":
                    return _mask_speakers(handle.read(min(size, 64)))
                if chunk_id == b"data":
                    return ()
                handle.seek(size + (size & 1), 1)
    except OSError:
        return ()
    return ()


def _mask_speakers(fmt: bytes) -> tuple[str, ...]:
    if len(fmt) < 24 or struct.unpack("<H", fmt[:2])[0] != WAVE_FORMAT_EXTENSIBLE:
        return ()
    mask = struct.unpack("<I", fmt[20:24])[0]
    return tuple(name for bit, name in enumerate(MASK_SPEAKERS) if mask >> bit & 1)


# ITU-R BS.775's stereo downmix: each front speaker to its side, the centre and the surrounds at
# -3 dB to their sides (a back centre to both at -6 dB), the LFE left out (BS.775 drops it); a mono
# file plays on both speakers at full level, as a player would
_FOLD_DOWN = {"FL": (1.0, 0.0), "FR": (0.0, 1.0), "FC": (0.7071, 0.7071), "LFE": (0.0, 0.0),
              "BL": (0.7071, 0.0), "BR": (0.0, 0.7071), "SL": (0.7071, 0.0), "SR": (0.0, 0.7071),
              "FLC": (0.7071, 0.0), "FRC": (0.0, 0.7071), "BC": (0.5, 0.5)}


def stereo_fold_down(layout: Sequence[str]) -> np.ndarray:
    """(2, C) float32 matrix taking a layout's channels to a stereo pair for listening: `fold @ block`.

    Speakers BS.775 does not place (heights, unnamed "C<n>") go to both sides at -6 dB.
    """
    if len(layout) == 1:
        return np.ones((2, 1), dtype=np.float32)
    return np.array([_FOLD_DOWN.get(label, (0.5, 0.5)) for label in layout], dtype=np.float32).T
