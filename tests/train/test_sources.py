"""The default corpus keeps evaluation honest: no held-out class shares a source with training."""

from tuss_fx.model.prompts import DMX_PROMPTS, STEM_PROMPTS
from tuss_fx.train.midi_stems import MidiStemSource
from tuss_fx.train.packages import SourceSpec
from tuss_fx.train.sources import DEFAULT_SOURCES


def _identity(source):
    if isinstance(source, SourceSpec):
        return source.package, source.patterns, source.archive
    if isinstance(source, MidiStemSource):
        return source.package, source.patterns, source.soundfont
    return source.package, None, None


def test_train_and_held_out_sources_are_disjoint():
    train = {_identity(s) for s in DEFAULT_SOURCES if s.split == "train"}
    heldout = {_identity(s) for s in DEFAULT_SOURCES if s.split == "heldout"}
    assert train and heldout and not train & heldout
    # stems: another MIDI collection and another soundfont
    midi = [s for s in DEFAULT_SOURCES if isinstance(s, MidiStemSource)]
    assert {s.split for s in midi} == {"train", "heldout"}
    train_midi = [s for s in midi if s.split == "train"]
    held_midi = [s for s in midi if s.split == "heldout"]
    assert {s.soundfont for s in train_midi}.isdisjoint({s.soundfont for s in held_midi})
    assert {s.package for s in train_midi}.isdisjoint({s.package for s in held_midi})


def test_every_evaluated_class_has_train_and_held_out_material():
    def classes(split):
        found = set()
        for source in DEFAULT_SOURCES:
            if source.split != split:
                continue
            found |= set(STEM_PROMPTS) | {"musicbg"} if isinstance(source, MidiStemSource) else {source.prompt}
        return found
    for split in ("train", "heldout"):
        assert set(DMX_PROMPTS) | set(STEM_PROMPTS) <= classes(split), split
