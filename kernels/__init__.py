"""Triton kernels for tuss-fx; dispatched from tuss_fx.ops only."""
