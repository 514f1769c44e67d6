"""Real-recording evaluation: real read speech over real music and real ambience, as users hear it.

The synthetic held-out split says how well the model learned its corpus; this suite says how it
does on recordings no training source resembles. Scenes are built from a folder of real
recordings (by default the ones that ship in `tuss_fx/recordings`: LibriSpeech and LJ Speech readings, an orchestra, a
string orchestra, a solo trumpet, a robin) plus, optionally, real ambience recordings and real
dialogue passed in (e.g. supertuxkart-data's rain and its cut-scene speech, which the training
corpus does not use: recordings that are not in the repository). Each scene
sets a dialogue-to-background ratio (DBR: speech RMS over music + effects RMS) and asks for the
dialogue/music/effects stems; every stem is scored with SI-SNR improvement over the mixture.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio

from tuss_fx.errors import TussFxError
from tuss_fx.media.resample import resample
from tuss_fx.model.prompts import DMX_PROMPTS

MODEL_RATE = 48000
SCENE_SECONDS = 6.0  # one model segment: the score measures the model, not the overlap-add
REFERENCE_RMS = 0.1  # -20 dBFS: the speech level of every scene
EFFECTS_BELOW_MUSIC_DB = 6.0  # effects and ambience sit under the music inside the background
DEFAULT_DBRS_DB = (0.0, -6.0, -12.0)

# (file, start second): the readings, and where each background recording is played from
SPEECH = {"librispeech-male": ("librispeech-198-209-0000.ogg", 0.5),
          "ljspeech-female": ("ljspeech-LJ050-0131.ogg", 0.3)}
MUSIC = {"orchestra": ("kevin-macleod-sugar-plum-fairy.ogg", 30.0),
         "strings": ("hungarian-dance-5-strings.ogg", 5.0),
         "trumpet": ("sorohanro-solo-trumpet.ogg", 0.0)}
ROBIN = ("inspectorj-robin.ogg", 0.0)
ROBIN_AT_SECONDS = 2.0  # a single bird call in the middle of the scene

Separate = Callable[[np.ndarray, list[str]], np.ndarray]  # (L,) at 48 kHz, prompts -> (P, L)


@dataclass(frozen=True)
class Recordings:
    """Where a suite's recordings are: the media folder, and extra files named in scenes by file name."""

    media_dir: Path
    ambience: tuple[Path, ...] = ()  # effects beds; without one, the trumpet scene gets the robin
    speech: tuple[Path, ...] = ()  # more dialogue, played from its start, over every background


class RealSuiteError(TussFxError):
    """A recording the suite needs is missing or unreadable."""


@dataclass(frozen=True)
class Scene:
    """One evaluated mixture: a reading over a background at a dialogue-to-background ratio."""

    speech: str  # key of SPEECH, or the file name of an extra speech recording
    music: str | None  # key of MUSIC
    effects: str | None  # "robin", or the file name of an ambience recording
    dbr_db: float

    @property
    def name(self) -> str:
        background = " + ".join(part for part in (self.music, self.effects) if part)
        return f"{self.speech} over {background or 'nothing'} at {self.dbr_db:+.0f} dB"


def default_scenes(recordings: Recordings, dbrs_db: Sequence[float] = DEFAULT_DBRS_DB) -> list[Scene]:
    """Every reading over orchestra, strings + robin, trumpet + each ambience (or + robin), at each DBR,
    and each reading alone (DBR +inf: what a clean line keeps)."""
    backgrounds: list[tuple[str | None, str | None]] = [("orchestra", None), ("strings", "robin")]
    backgrounds += [("trumpet", path.name) for path in recordings.ambience] or [("trumpet", "robin")]
    readings = list(SPEECH) + [path.name for path in recordings.speech]
    scenes = [Scene(speech, music, effects, dbr) for speech in readings for music, effects in backgrounds
              for dbr in dbrs_db]
    return scenes + [Scene(speech, None, None, float("inf")) for speech in readings]


@functools.lru_cache(maxsize=16)
def _mono(path: Path) -> np.ndarray:
    """The whole recording, mono at 48 kHz, read-only: decoded and resampled once for all its scenes."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise RealSuiteError(path, f"cannot read: {error}") from error
    mono = resample(audio.mean(axis=1)[None], rate, MODEL_RATE)[0]
    mono.setflags(write=False)
    return mono


def _read(path: Path, start_seconds: float, length: int) -> np.ndarray:
    """(length,) mono at 48 kHz from start_seconds, zero-padded past the end, DC removed."""
    clip = _mono(path)[int(start_seconds * MODEL_RATE):][:length]
    if len(clip) == 0:
        raise RealSuiteError(path, f"shorter than {start_seconds} s")
    return np.pad(clip - clip.mean(), (0, length - len(clip))).astype(np.float32)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def render(scene: Scene, recordings: Recordings) -> np.ndarray:
    """The scene's sources (3, L) in DMX_PROMPTS order (speech, sfxbg, musicbg) at 48 kHz; the mixture is their sum.

    Raises:
        RealSuiteError: a recording is missing or unreadable.
    """
    length = int(SCENE_SECONDS * MODEL_RATE)
    sources = np.zeros((len(DMX_PROMPTS), length), np.float32)
    if scene.speech in SPEECH:
        name, start = SPEECH[scene.speech]
        speech = _read(_media(recordings.media_dir, name), start, length)
    else:
        speech = _read(_extra(recordings.speech, scene.speech, "speech"), 0.0, length)
    sources[0] = speech / _rms(speech) * REFERENCE_RMS
    if scene.music:
        name, start = MUSIC[scene.music]
        music = _read(_media(recordings.media_dir, name), start, length)
        sources[2] = music / _rms(music) * REFERENCE_RMS
    if scene.effects == "robin":
        call = _read(_media(recordings.media_dir, ROBIN[0]), ROBIN[1], length)
        at = int(ROBIN_AT_SECONDS * MODEL_RATE)
        sources[1, at:] = call[: length - at]
    elif scene.effects:
        sources[1] = _read(_extra(recordings.ambience, scene.effects, "ambience"), 0.0, length)
    if scene.effects:
        level = REFERENCE_RMS * 10 ** (-EFFECTS_BELOW_MUSIC_DB / 20) if scene.music else REFERENCE_RMS
        sources[1] *= level / (_rms(sources[1]) + 1e-12)
    background = sources[1] + sources[2]
    if np.isfinite(scene.dbr_db) and background.any():
        sources[1:] *= REFERENCE_RMS * 10 ** (-scene.dbr_db / 20) / _rms(background)
    return sources


def _extra(paths: Sequence[Path], name: str, kind: str) -> Path:
    path = next((p for p in paths if p.name == name), None)
    if path is None or not path.exists():
        raise RealSuiteError(name, f"{kind} recording not found")
    return path


def _media(media_dir: Path, name: str) -> Path:
    path = media_dir / name
    if not path.exists():
        raise RealSuiteError(path, "not found; the suite needs the real recordings that ship in tuss_fx/recordings (or a folder holding the same files)")
    return path


def si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SNR in dB of (L,) arrays: torchmetrics', the metric of `tuss-fx evaluate`, in float64."""
    return float(scale_invariant_signal_noise_ratio(torch.from_numpy(estimate.astype(np.float64)),
                                                    torch.from_numpy(reference.astype(np.float64))))


@dataclass(frozen=True)
class SceneScore:
    scene: str
    dbr_db: float
    si_snri_db: dict[str, float]  # prompt -> SI-SNR improvement, for the stems the scene has
    speech_kept_db: float  # energy of the speech stem over that of the clean speech


def score_scene(separate: Separate, scene: Scene, recordings: Recordings) -> SceneScore:
    """Separate one scene into DMX_PROMPTS and score every stem that has a reference."""
    sources = render(scene, recordings)
    mixture = sources.sum(axis=0)
    estimate = separate(mixture, list(DMX_PROMPTS))
    if np.isfinite(scene.dbr_db):
        scores = {prompt: si_snr(estimate[index], sources[index]) - si_snr(mixture, sources[index])
                  for index, prompt in enumerate(DMX_PROMPTS) if sources[index].any()}
    else:  # speech alone: the mixture is the reference, so its SI-SNR itself is the score
        scores = {"speech": si_snr(estimate[0], sources[0])}
    kept = 10 * np.log10(np.sum(estimate[0].astype(np.float64) ** 2) / np.sum(sources[0].astype(np.float64) ** 2))
    return SceneScore(scene.name, scene.dbr_db, scores, float(kept))


def summarise(scores: Sequence[SceneScore]) -> dict[str, float]:
    """Mean SI-SNRi per prompt over the mixed scenes; speech per DBR; speech alone's kept energy and SI-SNR."""
    mixed = [s for s in scores if np.isfinite(s.dbr_db)]
    alone = [s for s in scores if not np.isfinite(s.dbr_db)]
    by_prompt: dict[str, list[float]] = defaultdict(list)
    by_dbr: dict[float, list[float]] = defaultdict(list)
    for score in mixed:
        for prompt, value in score.si_snri_db.items():
            by_prompt[prompt].append(value)
        by_dbr[score.dbr_db].append(score.si_snri_db["speech"])
    summary = {f"{prompt} si_snri_db": float(np.mean(values)) for prompt, values in by_prompt.items()}
    summary.update({f"speech si_snri_db at {dbr:+.0f} dB": float(np.mean(v)) for dbr, v in sorted(by_dbr.items())})
    if alone:
        summary["speech alone kept_db"] = float(np.mean([s.speech_kept_db for s in alone]))
        summary["speech alone si_snr_db"] = float(np.mean([s.si_snri_db["speech"] for s in alone]))
    return summary


def evaluate_real(separate: Separate, recordings: Recordings, dbrs_db: Sequence[float] = DEFAULT_DBRS_DB,
                  progress: Callable[[str], None] | None = None) -> tuple[list[SceneScore], dict[str, float]]:
    """Score every default scene; returns the per-scene scores and their summary."""
    scores = []
    for scene in default_scenes(recordings, dbrs_db):
        if progress:
            progress(scene.name)
        scores.append(score_scene(separate, scene, recordings))
    return scores, summarise(scores)


def format_report(scores: Sequence[SceneScore], summary: dict[str, float]) -> str:
    lines = [f"{'scene':<58} {'speech':>7} {'sfxbg':>7} {'musicbg':>8}"]
    for score in scores:
        cells = [f"{score.si_snri_db[p]:+7.2f}" if p in score.si_snri_db else f"{'-':>7}" for p in DMX_PROMPTS]
        lines.append(f"{score.scene:<58} {cells[0]} {cells[1]} {cells[2]:>8}")
    lines.append("")
    lines += [f"{key:<34} {value:+7.2f}" for key, value in summary.items()]
    return "\n".join(lines)


def as_json(scores: Sequence[SceneScore], summary: dict[str, float]) -> dict:
    return {"scenes": [asdict(s) | {"dbr_db": s.dbr_db if np.isfinite(s.dbr_db) else None} for s in scores],
            "summary": summary}
