"""Film clips for the container tests, made by the manual's own example script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np

_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "make_film_clip.py"
_spec = importlib.util.spec_from_file_location("make_film_clip", _SCRIPT)
make_film_clip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_film_clip)
write_clip = make_film_clip.write_clip

RATE = 48000
# the codec each container's clip carries: 24-bit PCM in MOV and MXF, float PCM in MKV, 24-bit ALAC in MP4
CLIP_CODECS = {".mov": "pcm_s24le", ".mkv": "pcm_f32le", ".mp4": "alac", ".mxf": "pcm_s24le"}


def soundtrack(seconds: float = 2.0, num_channels: int = 2, seed: int = 0) -> np.ndarray:
    """(C, L) tone + noise bursts, well under full scale; each channel different."""
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    channels = [0.2 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(t.size)
                * (np.sin(2 * np.pi * 1.5 * t + c) > 0.3) for c in range(num_channels)]
    return np.stack(channels).astype(np.float32)


def packets(path: Path, kind: str, number: int | None = None) -> list[tuple[bytes, int | None, int | None, int | None]]:
    """(payload, pts, dts, duration) of every packet of the streams of one kind (or only the
    `number`th of them, from 1), in file order."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        streams = streams if number is None else [streams[number - 1]]
        return [(bytes(p), p.pts, p.dts, p.duration) for p in container.demux(streams) if p.size]


def cues(path: Path) -> list[tuple[bytes, float, float]]:
    """Subtitle cues with text, as (payload, start s, duration s): MOV's muxer rewrites its empty gap
    samples. Empty for a film without subtitles."""
    with av.open(str(path)) as container:
        if not container.streams.subtitles:
            return []
        stream = container.streams.subtitles[0]
        return [(bytes(p), float(p.pts * p.time_base), float(p.duration * p.time_base))
                for p in container.demux(stream) if p.size > 2]
