"""Measurement of signals in blocks, with no file in sight: BS.1770 integrated loudness equal to
pyloudnorm's, EBU 3342 loudness range and dialogue-gated loudness (loudness), and the meters a
report or a Broadcast WAV needs: loudness curves, true peak, spectrogram strip (meters).

Floor 1: may import tuss_fx.errors and its own modules.
"""
