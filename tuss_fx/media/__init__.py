"""Media in and out: audio files read in blocks and written all-or-nothing (audio_io), Broadcast WAV
chunks (bwf), film containers through PyAV (container) and their remux with one track replaced
(remux), streaming sample-rate conversion (resample).

Floor 2: may import tuss_fx.errors and measure (a Broadcast WAV output carries its measured loudness).
"""
