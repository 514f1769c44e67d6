"""Production-style augmentation of dry training sources, drawn afresh for every excerpt.

Real dialogue reaches a mix through a room, a microphone, a recorder's sample rate and a
dialogue chain; music and effects arrive bus-compressed, equalised and ridden under the
dialogue. The corpus holds mostly dry, close, full-band game lines, so each excerpt is sent
through a random chain of that kind before mixing. The processed source is the training
target: a mixer wants the dialogue as it sounds in the programme, room and all.

Everything runs at 48 kHz on mono (L,) float32 excerpts: pedalboard for the EQ and dynamics
(native, fast), soxr for band-limiting, an FFT convolution with a synthetic room response.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard
from scipy.signal import fftconvolve, lfilter

from tuss_fx.media.resample import resample
from tuss_fx.model.prompts import STEM_PROMPTS

MODEL_RATE = 48000
# sample rates real dialogue is recorded or delivered at below 48 kHz: telephone, wideband VoIP,
# read-speech corpora (16 kHz), old broadcast and web audio (22.05, 32 kHz)
RECORDING_RATES = (8000, 16000, 22050, 32000)
RECORDING_RATE_WEIGHTS = (0.15, 0.45, 0.25, 0.15)


def room_impulse_response(rng: np.random.Generator, rt60_seconds: float, direct_to_reverberant_db: float,
                          sample_rate: int = MODEL_RATE) -> np.ndarray:
    """A synthetic room impulse response (N,): a direct path, then an exponentially decaying noise tail.

    The tail is Gaussian noise under exp(-6.91 t / RT60) (60 dB of decay at t = RT60), low-pass
    filtered more as it decays (air and wall absorption take the highs first), starting after a
    2.5-20 ms pre-delay; it is scaled so that direct / tail energy = direct_to_reverberant_db.
    This is the statistical model of late reverberation (Polack); no room geometry is needed to
    teach a separator that speech comes with a room.
    """
    length = int(min(rt60_seconds, 1.5) * sample_rate)
    predelay = int(rng.uniform(0.0025, 0.02) * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.91 * t / rt60_seconds)
    # one-pole low-pass whose pole steps from 0.2 (bright) to 0.8 (dull) over eight pieces of the
    # tail, the filter state carried across pieces so the tail stays continuous
    pieces = np.array_split(tail, 8)
    dull, state = [], np.zeros(1)
    for pole, piece in zip(np.linspace(0.2, 0.8, len(pieces)), pieces):
        filtered, state = lfilter([1 - pole], [1, -pole], piece, zi=state)
        dull.append(filtered)
    dull = np.concatenate(dull)
    dull[:predelay] = 0.0
    tail_energy = float(np.sum(dull**2)) + 1e-12
    response = dull * np.sqrt(10 ** (-direct_to_reverberant_db / 10) / tail_energy)
    response[0] = 1.0
    return response.astype(np.float32)


def reverberate(audio: np.ndarray, response: np.ndarray) -> np.ndarray:
    """(L,) convolved with a room response, cut to L samples (the tail past the excerpt is lost, as in an edit)."""
    return fftconvolve(audio, response)[: len(audio)].astype(np.float32)


def band_limit(audio: np.ndarray, recording_rate: int, sample_rate: int = MODEL_RATE) -> np.ndarray:
    """(L,) as if recorded at `recording_rate` and upsampled for the mix: nothing above its Nyquist."""
    down = resample(audio[None], sample_rate, recording_rate)
    up = resample(down, recording_rate, sample_rate)[0, : len(audio)]
    return np.pad(up, (0, len(audio) - len(up)))  # rounding at the low rate can cost a sample


def level_ride(audio: np.ndarray, rng: np.random.Generator, depth_db: float,
               sample_rate: int = MODEL_RATE) -> np.ndarray:
    """(L,) under a smooth gain curve through random points every 0.5-2 s, within ±depth_db/2.

    A mixer's fader moves (music ducked under a line, a voice lifted on a quiet word) change
    levels within an excerpt; the model must follow a source through them.
    """
    spacing = int(rng.uniform(0.5, 2.0) * sample_rate)
    points = np.arange(0, len(audio) + spacing, spacing)
    gains_db = rng.uniform(-depth_db / 2, depth_db / 2, size=len(points))
    curve_db = np.interp(np.arange(len(audio)), points, gains_db)
    return (audio * 10 ** (curve_db / 20)).astype(np.float32)


def _dialogue_chain(rng: np.random.Generator) -> pedalboard.Pedalboard:
    """A dialogue editor's chain with random settings: high-pass, mic colouration, presence, compression."""
    return pedalboard.Pedalboard([
        pedalboard.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(60, 160))),
        pedalboard.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(150, 400)), gain_db=float(rng.uniform(-6, 4))),
        pedalboard.PeakFilter(cutoff_frequency_hz=float(rng.uniform(1500, 5000)), gain_db=float(rng.uniform(-3, 6)),
                              q=float(rng.uniform(0.5, 2.0))),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(6000, 10000)),
                                   gain_db=float(rng.uniform(-8, 3))),
        pedalboard.Compressor(threshold_db=float(rng.uniform(-32, -14)), ratio=float(rng.uniform(2, 6)),
                              attack_ms=float(rng.uniform(2, 15)), release_ms=float(rng.uniform(60, 200))),
        # the top-end roll-off of a microphone or a dialogue EQ
        pedalboard.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(9000, 16000))),
    ])


def _bus_chain(rng: np.random.Generator) -> pedalboard.Pedalboard:
    """A music or effects bus: tone shaping and glue compression."""
    return pedalboard.Pedalboard([
        pedalboard.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(80, 300)), gain_db=float(rng.uniform(-6, 4))),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(4000, 10000)),
                                   gain_db=float(rng.uniform(-9, 3))),
        pedalboard.Compressor(threshold_db=float(rng.uniform(-30, -12)), ratio=float(rng.uniform(1.5, 4)),
                              attack_ms=float(rng.uniform(5, 30)), release_ms=float(rng.uniform(80, 300))),
    ])


@dataclass(frozen=True)
class ProductionAugment:
    """Per prompt class, which production processes a source may go through, and how often.

    Stems (vocals, drums, bass, other) pass unchanged: their mixture must stay the plain sum of
    renders whose balance the stems task learns.
    """

    reverb_prob: float = 0.5  # speech in a room (sfx too, less often)
    rt60_seconds: tuple[float, float] = (0.15, 0.9)
    direct_to_reverberant_db: tuple[float, float] = (-2.0, 15.0)
    band_limit_prob: float = 0.35  # speech recorded or delivered below 48 kHz
    chain_prob: float = 0.6  # dialogue chain on speech, bus chain on music and effects
    ride_prob: float = 0.4
    ride_depth_db: float = 10.0

    def __call__(self, prompt: str, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(L,) float32 dry excerpt of class `prompt` -> (L,) float32 processed excerpt."""
        if prompt in STEM_PROMPTS or not np.any(audio):
            return audio
        out = audio.astype(np.float32)
        if prompt in ("speech", "sfx") and rng.random() < self.reverb_prob * (1.0 if prompt == "speech" else 0.5):
            response = room_impulse_response(rng, float(rng.uniform(*self.rt60_seconds)),
                                             float(rng.uniform(*self.direct_to_reverberant_db)))
            out = reverberate(out, response)
        if prompt == "speech" and rng.random() < self.band_limit_prob:
            rate = int(rng.choice(RECORDING_RATES, p=RECORDING_RATE_WEIGHTS))
            out = band_limit(out, rate)
        if rng.random() < self.chain_prob:
            chain = _dialogue_chain(rng) if prompt == "speech" else _bus_chain(rng)
            out = chain(out[None], MODEL_RATE)[0]
        if rng.random() < self.ride_prob:
            out = level_ride(out, rng, self.ride_depth_db)
        return np.nan_to_num(out).astype(np.float32)
