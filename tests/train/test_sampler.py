from collections import Counter

import numpy as np
import pytest

from tuss_fx.train.recipe import RULES, STEMS
from tuss_fx.train.sampler import MixtureSampler, sample_prompts


def test_prompt_statistics_follow_the_recipe():
    rng = np.random.default_rng(0)
    draws = [sample_prompts(rng) for _ in range(6000)]
    sizes = Counter(len(d) for d in draws)
    assert set(sizes) <= {2, 3, 4} and all(abs(sizes[n] / 6000 - 1 / 3) < 0.03 for n in (2, 3, 4))
    firsts = Counter(d[0] for d in draws)
    assert abs(firsts["speech"] / 6000 - 0.2) < 0.02 and abs(firsts["drums"] / 6000 - 0.05) < 0.01
    for draw in draws:
        counts = Counter(draw)
        assert all(counts[p] <= RULES[p].max_count for p in counts)
        # the contradiction TUSS resolves: musicbg never shares a mixture with stem prompts it forbids
        for prev, nxt in zip(draw, draw[1:]):
            assert RULES[prev].next_prob[nxt] > 0
    both = [d for d in draws if "musicbg" in d] and [d for d in draws if set(d) & set(STEMS)]
    assert both  # both groupings appear


def test_unavailable_classes_are_never_drawn():
    rng = np.random.default_rng(1)
    for _ in range(500):
        assert set(sample_prompts(rng, ["speech", "sfxbg", "musicbg"])) <= {"speech", "sfxbg", "musicbg"}


def test_mixture_is_the_exact_sum_and_gains_stay_in_range():
    rng = np.random.default_rng(2)
    pools = {name: [rng.standard_normal(3000).astype(np.float32)] for name in ("speech", "sfxbg", "musicbg")}
    sampler = MixtureSampler(pools, segment_samples=2000, seed=3)
    for _ in range(50):
        mixture, sources, prompts = sampler.example()
        np.testing.assert_array_equal(mixture, sources.sum(0))
        assert sources.shape == (len(prompts), 2000)
        for source, prompt in zip(sources, prompts):
            rms_db = 20 * np.log10(np.sqrt(np.mean(source**2)) / 0.1)
            low, high = RULES[prompt].gain_db
            assert low - 0.01 <= rms_db <= high + 0.01
    mix, src, prompts = sampler.batch(3)
    assert mix.shape == (3, 2000) and len({len(p) for p in prompts}) == 1


def test_dialogue_scenes_ask_for_every_stem_at_production_levels():
    from tuss_fx.train.sampler import SCENE_GAIN_DB, SCENE_PROMPTS

    rng = np.random.default_rng(4)
    pools = {name: [rng.standard_normal(3000).astype(np.float32)] for name in ("speech", "sfxbg", "musicbg", "drums")}
    sampler = MixtureSampler(pools, segment_samples=2000, seed=5, scene_prob=1.0)
    silent = 0
    for _ in range(200):
        mixture, sources, prompts = sampler.example()
        assert prompts == list(SCENE_PROMPTS)
        np.testing.assert_array_equal(mixture, sources.sum(0))
        assert sources[0].any()  # the dialogue is always there
        for source, prompt in zip(sources, prompts):
            if not source.any():
                silent += 1
                continue
            rms_db = 20 * np.log10(np.sqrt(np.mean(source**2)) / 0.1)
            low, high = SCENE_GAIN_DB[prompt]
            assert low - 0.01 <= rms_db <= high + 0.01
    assert 0 < silent < 60  # a background is left silent in about one scene in ten


def test_scenes_need_all_three_classes():
    rng = np.random.default_rng(6)
    pools = {name: [rng.standard_normal(3000).astype(np.float32)] for name in ("speech", "musicbg")}
    with pytest.raises(ValueError, match="sfxbg"):
        MixtureSampler(pools, segment_samples=2000, scene_prob=0.5)


def test_the_augmented_excerpt_is_the_target():
    """The augmentation sees each excerpt with its prompt; what it returns is scaled and becomes the source."""
    seen = []

    def reverse(prompt, audio, rng):
        seen.append(prompt)
        return audio[::-1].copy()

    ramp = np.linspace(0.1, 1.0, 2000, dtype=np.float32)
    pools = {"speech": [ramp], "musicbg": [ramp]}
    sampler = MixtureSampler(pools, segment_samples=2000, seed=7, augment=reverse)
    mixture, sources, prompts = sampler.example_for(["speech", "musicbg"])
    assert seen == ["speech", "musicbg"]
    for source in sources:
        np.testing.assert_allclose(source / source[0], ramp[::-1] / ramp[-1], rtol=1e-5)
    np.testing.assert_array_equal(mixture, sources.sum(0))


def test_clips_are_drawn_by_how_much_of_the_excerpt_they_fill():
    """A 500-sample word is drawn a quarter as often as a clip that fills the 2000-sample excerpt."""
    word, sentence, long_read = (np.ones(n, np.float32) for n in (500, 2000, 9000))
    sampler = MixtureSampler({"speech": [word, sentence, long_read], "musicbg": [sentence]}, 2000, seed=8)
    np.testing.assert_allclose(sampler.clip_weights["speech"], [500 / 4500, 2000 / 4500, 2000 / 4500])
    lengths = Counter(int(np.count_nonzero(sampler.example_for(["speech", "musicbg"])[1][0])) for _ in range(3000))
    assert abs(lengths[500] / 3000 - 1 / 9) < 0.025 and abs(lengths[2000] / 3000 - 8 / 9) < 0.025
