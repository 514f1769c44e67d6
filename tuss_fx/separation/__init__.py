"""The separation engine: Separator (separator), the chunk plan and overlap-add (stream), batched
forward passes (forward), read-ahead (prefetch), the dialogue engine's share of a request
(dialogue), checkpoints shipped, official or installed (checkpoint, models, download), the device
`auto` picks (devices: CUDA, Apple's GPU, the CPU) and the file-level separation job (files).

Floor 5: may import tuss_fx.errors, measure, media, report, model, kernels and deepfilternet.
"""
