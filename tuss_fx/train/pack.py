"""A compact, class-balanced copy of a corpus split as Ogg Vorbis, for training where the corpus is not.

A lent GPU machine has no package registries and no copy of the Debian data: what it trains on
must travel with the checkout (tens of MiB). The pack keeps the corpus layout and manifest, so
`tuss-fx train PACK` reads it like any corpus; every prompt class gets an equal share of the
bytes, and long clips are cut so one three-minute song does not take a class's whole share.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_fx.train.corpus import MANIFEST, MODEL_RATE, Clip, CorpusError, attribution

MAX_CLIP_SECONDS = 20.0  # longer clips are cut to a random excerpt of this length


def pack_corpus(corpus_dir: Path, out_dir: Path, max_bytes: int, split: str = "train", seed: int = 0,
                progress: Callable[[str], None] | None = None) -> list[dict]:
    """Encode clips of `split` as 48 kHz mono Ogg Vorbis under out_dir until max_bytes, balancing classes.

    The next clip always comes from the class with the fewest bytes so far (clips in a seeded
    random order within a class); a class stops when its pool runs out or its next clip would
    cross max_bytes. Writes out_dir/manifest.jsonl (the corpus entries, with path and seconds
    of the packed clip and the path it was packed from) and out_dir/ATTRIBUTION.md.

    Returns:
        The manifest entries written.

    Raises:
        CorpusError: no manifest in corpus_dir, or no clip of `split`.
    """
    manifest = corpus_dir / MANIFEST
    if not manifest.exists():
        raise CorpusError(corpus_dir, f"no {MANIFEST}; build the corpus first (tuss-fx corpus build)")
    rng = np.random.default_rng(seed)
    queues: dict[str, list[dict]] = defaultdict(list)
    for line in manifest.read_text().splitlines():
        entry = json.loads(line)
        if entry["split"] == split:
            queues[entry["prompt"]].append(entry)
    if not queues:
        raise CorpusError(corpus_dir, f"no clips in the {split!r} split")
    for entries in queues.values():
        rng.shuffle(entries)
    used = {prompt: 0 for prompt in queues}
    packed: list[dict] = []
    while queues:
        prompt = min(queues, key=lambda name: used[name])
        entry = queues[prompt].pop()
        if not queues[prompt]:
            del queues[prompt]
        target = Path(entry["path"]).with_suffix(".ogg")
        encoded, frames = _encode(corpus_dir / entry["path"], rng)
        if sum(used.values()) + len(encoded) > max_bytes:
            queues.pop(prompt, None)  # this class is full; the others may still fit smaller clips
            continue
        (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / target).write_bytes(encoded)
        used[prompt] += len(encoded)
        packed.append({**entry, "path": target.as_posix(), "packed_from": entry["path"],
                       "seconds": round(frames / MODEL_RATE, 3)})
        if progress:
            progress(target.as_posix())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).write_text("".join(json.dumps(entry) + "\n" for entry in packed))
    fields = Clip.__dataclass_fields__
    (out_dir / "ATTRIBUTION.md").write_text(attribution([Clip(**{k: e[k] for k in fields}) for e in packed]))
    return packed


def _encode(path: Path, rng: np.random.Generator) -> tuple[bytes, int]:
    """(Ogg Vorbis bytes, frames) of the clip, or of a random MAX_CLIP_SECONDS excerpt of a longer one."""
    info = sf.info(path)
    length = int(MAX_CLIP_SECONDS * MODEL_RATE)
    start = int(rng.integers(0, info.frames - length + 1)) if info.frames > length else 0
    audio, rate = sf.read(path, start=start, stop=start + length, dtype="float32")
    if rate != MODEL_RATE:
        raise CorpusError(path, f"corpus clips are {MODEL_RATE} Hz, this one is {rate} Hz")
    buffer = io.BytesIO()
    sf.write(buffer, audio, MODEL_RATE, format="OGG", subtype="VORBIS")
    return buffer.getvalue(), len(audio)
