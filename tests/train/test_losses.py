import math

import torch

from tuss_fx.train.losses import snr_loss


def test_active_source_is_negative_snr():
    ref = torch.randn(1, 1, 1000)
    noise = torch.randn(1, 1, 1000)
    noise = noise / noise.norm() * ref.norm() * 10 ** (-10 / 20)  # exactly 10 dB SNR
    loss = snr_loss(ref + noise, ref, snr_max=1000)
    assert math.isclose(float(loss), -10.0, abs_tol=1e-3)


def test_soft_cap_at_snr_max():
    ref = torch.randn(1, 1, 1000)
    # a perfect estimate: 10·log10(τ‖r‖²) - 10·log10(‖r‖²) = -snr_max
    assert math.isclose(float(snr_loss(ref.clone(), ref, snr_max=30)), -30.0, abs_tol=1e-3)


def test_silent_target_is_weighted_and_relative_to_the_mixture():
    ref = torch.zeros(1, 2, 1000)
    ref[0, 0] = torch.randn(1000)
    est = torch.zeros(1, 2, 1000)
    est[0, 1] = 0.01 * ref[0, 0]  # leak 40 dB below the mixture into the silent output
    loss = snr_loss(est, ref, snr_max=30)
    mix_power = float(ref[0, 0].square().sum())
    expected = 0.1 * 10 * math.log10(1e-4 * mix_power + 1e-3 * mix_power)
    assert math.isclose(float(loss[0, 1]), expected, rel_tol=1e-4)
