"""Triton kernels for tuss-fx; dispatched from tuss_fx.model.ops only."""
