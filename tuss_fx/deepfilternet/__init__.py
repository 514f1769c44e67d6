"""DeepFilterNet3 in PyTorch: the dialogue engine that takes speech out of a mix before TUSS.

network.py holds the network, features.py libDF's STFT and features, enhancer.py the streaming
runtime (lookahead, deep filtering, latency removed), lanes.py its channels on parallel threads,
convert.py the one-off weight conversion from the upstream ONNX export. It imports nothing from the rest of tuss_fx.

Floor 3, beside the TUSS network: may import what the network may.
"""

from tuss_fx.deepfilternet.enhancer import LATENCY_SAMPLES, DeepFilterNet3Stream, load_network
from tuss_fx.deepfilternet.lanes import LanedStream, enhance

__all__ = ["LATENCY_SAMPLES", "DeepFilterNet3Stream", "LanedStream", "enhance", "load_network"]
