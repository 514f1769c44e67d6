"""A pack is a smaller corpus: within its byte budget, classes balanced, readable by the trainer."""

import json

import numpy as np
import pytest
import soundfile as sf

from tuss_fx.train.corpus import load_pools
from tuss_fx.train.pack import MAX_CLIP_SECONDS, pack_corpus
from tuss_fx.train.packages import CorpusError


def _corpus(root, clips_per_class=6):
    rng = np.random.default_rng(0)
    lines = []
    for prompt, seconds in (("speech", 3.0), ("musicbg", 30.0), ("sfxbg", 2.0)):
        for index in range(clips_per_class):
            path = root / "train" / prompt / f"{prompt}{index}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, (rng.standard_normal(int(seconds * 48000)) * 0.1).astype(np.float32), 48000,
                     subtype="PCM_24")
            lines.append(json.dumps({"prompt": prompt, "split": "train", "package": f"{prompt}-data",
                                     "source_path": f"usr/share/{prompt}{index}", "licence": "CC0", "sha256": "0",
                                     "native_sample_rate": 48000, "bandwidth_hz": 24000.0, "seconds": seconds,
                                     "path": f"train/{prompt}/{prompt}{index}.flac"}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_pack_balances_classes_within_its_budget_and_trains_like_a_corpus(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    budget = 600_000
    packed = pack_corpus(corpus, tmp_path / "pack", budget)
    files = list((tmp_path / "pack").rglob("*.ogg"))
    sizes = {prompt: sum(f.stat().st_size for f in files if f.parent.name == prompt)
             for prompt in ("speech", "musicbg", "sfxbg")}
    assert sum(sizes.values()) <= budget and len(files) == len(packed)
    # white noise costs the same bytes per second in every class: equal bytes, one long clip of slack
    largest_clip = max(f.stat().st_size for f in files)
    assert max(sizes.values()) - min(sizes.values()) <= largest_clip
    for entry in packed:
        info = sf.info(tmp_path / "pack" / entry["path"])
        assert info.samplerate == 48000 and info.channels == 1 and info.format == "OGG"
        assert info.duration <= MAX_CLIP_SECONDS + 0.01 and entry["seconds"] == pytest.approx(info.duration, abs=1e-3)
        assert (corpus / entry["packed_from"]).exists()
    pools = load_pools(tmp_path / "pack", "train")
    assert set(pools) == {"speech", "musicbg", "sfxbg"} and len(pools["speech"][0][0:4800]) == 4800
    assert "speech-data" in (tmp_path / "pack" / "ATTRIBUTION.md").read_text()


def test_a_budget_larger_than_the_corpus_packs_everything_once(tmp_path):
    corpus = _corpus(tmp_path / "corpus", clips_per_class=2)
    packed = pack_corpus(corpus, tmp_path / "pack", 50 * 2**20)
    assert sorted(e["packed_from"] for e in packed) == sorted(
        json.loads(line)["path"] for line in (corpus / "manifest.jsonl").read_text().splitlines())


def test_pack_names_what_is_missing(tmp_path):
    with pytest.raises(CorpusError, match="no manifest"):
        pack_corpus(tmp_path, tmp_path / "pack", 1000)
    corpus = _corpus(tmp_path / "corpus", clips_per_class=1)
    with pytest.raises(CorpusError, match="heldout"):
        pack_corpus(corpus, tmp_path / "pack", 1000, split="heldout")


def test_corpus_pack_command(tmp_path):
    from click.testing import CliRunner

    from tuss_fx.cli.commands import main

    corpus = _corpus(tmp_path / "corpus", clips_per_class=2)
    result = CliRunner().invoke(main, ["corpus", "pack", str(corpus), str(tmp_path / "pack"), "--max-mib", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "speech" in result.output and (tmp_path / "pack" / "manifest.jsonl").exists()
