"""The proof that official TUSS weights work: outputs of the authors' implementation, reproduced."""

import pytest
import torch

from tests.conftest import PARITY_RTOL, max_rel_error

SETS = ["dme", "stems"]


def test_stft_reproduces_spec_in(parity_model, parity_io):
    mixture = parity_io["mixture"]
    normalised = mixture / (mixture.std(dim=-1, keepdim=True) + 1e-8)
    spec = parity_model.stft.forward(normalised)
    expected = torch.view_as_complex(parity_io["spec_in"])
    assert spec.shape == expected.shape
    assert max_rel_error(spec, expected) < 1e-6


@pytest.mark.parametrize("name", SETS)
def test_separator_reproduces_spec_out(parity_model, parity_io, prompt_sets, name):
    with torch.no_grad():
        out = parity_model.separator(torch.view_as_complex(parity_io["spec_in"]), prompt_sets[name])
    assert max_rel_error(out, torch.view_as_complex(parity_io[f"spec_out.{name}"])) < PARITY_RTOL


@pytest.mark.parametrize("name", SETS)
def test_waveform_model_reproduces_wave_out(parity_model, parity_io, prompt_sets, name):
    mixture = parity_io["mixture"]
    with torch.no_grad():
        out = parity_model(mixture, prompt_sets[name])
    expected = parity_io[f"wave_out.{name}"][..., : mixture.shape[-1]]
    assert out.shape == expected.shape
    assert max_rel_error(out, expected) < PARITY_RTOL


@pytest.mark.parametrize("name", SETS)
def test_separator_api_is_the_official_forward_for_one_segment(separator, parity_io, prompt_sets, name):
    mixture = parity_io["mixture"]
    stems = separator.separate(mixture.numpy()[0], 48000, prompt_sets[name])  # (P, 1, L)
    expected = parity_io[f"wave_out.{name}"][0, :, : mixture.shape[-1]]
    assert max_rel_error(torch.from_numpy(stems[:, 0]), expected) < PARITY_RTOL


def test_a_skipped_layer_breaks_parity(parity_dir, parity_io, prompt_sets):
    """The fixture is sensitive: zeroing one TSE FFN moves the output far beyond the tolerance."""
    from tuss_fx.separation.checkpoint import load_model

    model = load_model(parity_dir)
    with torch.no_grad():
        model.separator.cond_tse_module[0].frame_path.ffn[0].deconv1d.weight.zero_()
        out = model.separator(torch.view_as_complex(parity_io["spec_in"]), prompt_sets["dme"])
    assert max_rel_error(out, torch.view_as_complex(parity_io["spec_out.dme"])) > 100 * PARITY_RTOL


@pytest.mark.parametrize("outputs", [[1, 2], [0], [2, 0]])
def test_computing_some_stems_gives_those_stems_of_the_official_forward(parity_model, parity_io, prompt_sets, outputs):
    """Every prompt still steers the cross-prompt module; only the wanted ones are decoded, in the order asked."""
    mixture = parity_io["mixture"]
    with torch.no_grad():
        some = parity_model(mixture, prompt_sets["dme"], outputs)
    expected = parity_io["wave_out.dme"][:, outputs, : mixture.shape[-1]]
    assert max_rel_error(some, expected) < PARITY_RTOL
