"""A real scene and a built audition for the audition tests (the page's own tests and the server's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tuss_fx.audition.session import Audition, prepare_audition
from tuss_fx.media.audio_io import probe
from tuss_fx.separation.separator import Separator
from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
RATE = 48000


def write_scene(path: Path, seconds: float = 8.0, speech_at: float = 1.5, music_db: float = -6.0) -> np.ndarray:
    """A real reading (LJ Speech) over a real string orchestra (Hungarian Dance No. 5), stereo 48 kHz, as
    24-bit PCM like a delivered mix; returns the (C, L) float32 audio as written."""
    speech, speech_rate = sf.read(MEDIA / "ljspeech-LJ050-0131.ogg", dtype="float32")
    music, music_rate = sf.read(MEDIA / "hungarian-dance-5-strings.ogg", dtype="float32", frames=int(seconds * 44100) + 4410)
    speech = soxr.resample(speech, speech_rate, RATE)
    music = soxr.resample(music if music.ndim == 2 else np.stack([music, music], 1), music_rate, RATE)
    length = int(seconds * RATE)
    mix = 0.5 * music[:length] * 10 ** (music_db / 20)
    start = int(speech_at * RATE)
    line = speech[: length - start]
    mix[start:start + line.size] += 0.5 * line[:, None]
    sf.write(path, mix, RATE, subtype="PCM_24")
    return sf.read(path, dtype="float32", always_2d=True)[0].T


def audition_of(path: Path, root: Path, preset: str = "dialogue-boost", separator: Separator | None = None,
                plan: str | None = None, save_path: Path | None = None) -> Audition:
    """What `tuss-fx audition` builds for `path` (prepare_audition): the plan on the (default shipped) model,
    a cache entry under `root`, the session."""
    separator = separator or Separator.from_pretrained("default", device="cpu")
    save_path = save_path or path.with_name(f"{path.stem}.audition.toml")  # never the working folder
    return prepare_audition(probe(path), preset, separator, plan, save_path=save_path, root=root)[0]
