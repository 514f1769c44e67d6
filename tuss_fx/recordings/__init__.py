"""The real recordings that ship with tuss-fx: the demo film's soundtrack, the real suite's scenes and the
tests' real-signal checks (readings, orchestras, a bird call, a trumpet; ATTRIBUTION.md beside them).

Floor 0: data beside a path helper; imports nothing of tuss_fx.
"""

from __future__ import annotations

from pathlib import Path

RECORDINGS_DIR = Path(__file__).resolve().parent


def recording(name: str) -> Path:
    """The path of a shipped recording, e.g. recording("librispeech-198-209-0000.ogg").

    Raises:
        FileNotFoundError: no recording of that name ships (the message lists those that do).
    """
    path = RECORDINGS_DIR / name
    if not path.is_file():
        shipped = ", ".join(sorted(p.name for p in RECORDINGS_DIR.glob("*.ogg")))
        raise FileNotFoundError(f"{path}: no such shipped recording (shipped: {shipped})")
    return path
