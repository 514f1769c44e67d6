"""tuss-fx: prompt-driven source separation (TUSS) for audio post-production.

The public Python API, in one place:
- here: Separator, TussFxError, and, loaded on first use so that `import tuss_fx` stays light,
  load_preset, remix_file, remix_film, RemixRequest (what a remix writes and how), separate_file;
- tuss_fx.plugin: the pedalboard-style processors (TUSSExtract, TUSSRemove, TUSSRemix) and Chain;
- tuss_fx.batch: BatchJob, collect_inputs, run_batch;
- tuss_fx.timeline: plan_conform, conform_timeline, ConformJob (timelines conformed);
- tuss_fx.deepfilternet: the dialogue engine's network (enhance, load_network);
- tuss_fx.model: the TUSS network (TussModel, TussConfig).

Layout, by floor: a package imports only from its own floor and those below it, never upwards
(tests/test_layout.py holds every import to this):
  0  errors, signals,        errors a user can act on; signals that end a command cleanly;
     hold_points,            where a test stops a run to kill it (TUSS_FX_HOLD);
     recordings              the real recordings that ship for the demo, the real suite and tests
  1  measure                 loudness, loudness range, meters: signals in blocks, no files
  2  media                   audio files, Broadcast WAV, film containers, remux, resampling
  3  model, kernels,         the TUSS network and its op dispatch; the Triton kernels;
     deepfilternet           DeepFilterNet3 in PyTorch
  4  report                  run reports (JSON/PNG/HTML), stem-folder reports, delivery specs
  5  separation              Separator, streaming, forward passes, dialogue engine, checkpoints
  6  mix                     presets, effect chains, automation, remix of files and films
  7  plugin, batch           processors and chains; batch jobs, local and on Ray
  8  train, timeline,        corpus, training loop, evaluation, fine-tuning; timelines conformed;
     audition                the audition page: a programme's cached stems served under faders
  9  cli                     the tuss-fx command line
"""

import os
from importlib import import_module

# Apple's GPU runs an op its Metal backend lacks on the CPU only if this is set before torch is imported,
# which the next import does (tuss_fx.separation.devices); a user's own setting wins
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")

from tuss_fx.errors import TussFxError  # noqa: E402
from tuss_fx.separation.separator import Separator  # noqa: E402

_LOADED_ON_FIRST_USE = {
    "load_preset": "tuss_fx.mix.presets",
    "remix_file": "tuss_fx.mix.remix",
    "remix_film": "tuss_fx.mix.film",
    "RemixRequest": "tuss_fx.mix.request",
    "separate_file": "tuss_fx.separation.files",
}

__all__ = ["Separator", "TussFxError", *_LOADED_ON_FIRST_USE]


def __getattr__(name: str):
    """The public names of pedalboard- and PyAV-backed modules, imported when first asked for."""
    if name in _LOADED_ON_FIRST_USE:
        return getattr(import_module(_LOADED_ON_FIRST_USE[name]), name)
    raise AttributeError(f"module 'tuss_fx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LOADED_ON_FIRST_USE])
