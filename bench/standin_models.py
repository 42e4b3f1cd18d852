"""Random-weight stand-ins for the face models, with the real interfaces and realistic compute.

No real weights exist on these machines. The stand-ins have the inputs, outputs and file layout of the real
models (so the whole pipeline runs unchanged) and conv stacks sized like them, so time and FLOPs are of the right
order; their exact FLOPs are counted and printed next to every result. Pass real files with `--models` to
measure those instead.

- detector: det_10g's interface (static 1x3x640x640, 9 outputs) over a 4-stage conv backbone (~20 GFLOP, the
  order of SCRFD-10G's published 10 G mult-adds); its outputs are the
  known faces of the benchmark image (a replay), so detection is exact whatever the weights.
- recogniser: an IResNet-50-shaped stack (blocks 3/4/14/3 at 56/28/14/7 px) -> 512-D, dynamic batch.
- gender/age: a small 96x96 conv net -> 3 values.
- swapper: inswapper_128's interface (target 1x3x128x128 + source 1x512, 512x512 emap last) around an encoder,
  6 source-modulated residual blocks of 1024 channels at 16x16 and a decoder — sized to the real file's ~554 MB.
GFPGAN needs no stand-in: its architecture is public, so the benchmark uses it with random weights.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from fixtures.onnx_models import build_scrfd_replay  # noqa: E402

OPSET = [helper.make_opsetid("", 17)]


class Net:
    """A tiny ONNX graph builder: conv layers with He-initialised random weights."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def _name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"

    def weight(self, shape, scale: float) -> str:
        name = self._name("w")
        self.inits.append(numpy_helper.from_array((self.rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def conv(self, x: str, cin: int, cout: int, stride: int = 1, relu: bool = True, k: int = 3) -> str:
        w = self.weight((cout, cin, k, k), (2.0 / (cin * k * k)) ** 0.5)
        y = self._name("conv")
        self.nodes.append(helper.make_node("Conv", [x, w], [y], kernel_shape=[k, k], strides=[stride, stride],
                                           pads=[k // 2] * 4))
        if not relu:
            return y
        r = self._name("relu")
        self.nodes.append(helper.make_node("Relu", [y], [r]))
        return r

    def op(self, kind: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        y = out or self._name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [y], **attrs))
        return y

    def const(self, array, dtype=np.float32) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def save(self, path: Path, name: str, inputs, outputs) -> Path:
        model = helper.make_model(helper.make_graph(self.nodes, name, inputs, outputs, self.inits),
                                  opset_imports=OPSET, producer_name="likeness-bench")
        model.ir_version = 8
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path


def stages(net: Net, x: str, cin: int, plan) -> tuple[str, int]:
    """plan: [(channels, blocks)], each stage halves the size; a block is two 3x3 convs with a residual add."""
    for cout, blocks in plan:
        x = net.conv(x, cin, cout, stride=2)
        for _ in range(blocks):
            y = net.conv(net.conv(x, cout, cout), cout, cout, relu=False)
            x = net.op("Relu", [net.op("Add", [x, y])])
        cin = cout
    return x, cin


def detector(path: Path, faces, image_size) -> Path:
    """The replay detector of tests/fixtures with a backbone in front: outputs = known faces + 0 x backbone."""
    replay = onnx.load(str(build_scrfd_replay(path, faces, image_size)))
    net = Net(1)
    x = net.conv("input.1", 3, 32, stride=2)
    feat, _ = stages(net, x, 32, [(64, 1), (128, 1), (256, 1), (512, 1)])
    g = replay.graph
    for node in g.node:  # the replay's "0 x mean(input)" now reads the backbone's output
        if node.op_type == "ReduceMean" and node.input[0] == "input.1":
            node.input[0] = feat
    nodes = net.nodes + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(net.inits)
    onnx.save(replay, str(path))
    return path


def recogniser(path: Path) -> Path:
    net = Net(2)
    x = net.conv("input.1", 3, 64)
    feat, c = stages(net, x, 64, [(64, 3), (128, 4), (256, 14), (512, 3)])
    flat = net.op("Flatten", [feat], axis=1)
    net.op("MatMul", [flat, net.weight((c * 7 * 7, 512), (1.0 / (c * 49)) ** 0.5)], out="683")
    return net.save(path, "iresnet50_standin",
                    [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
                    [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])])


def genderage(path: Path) -> Path:
    net = Net(3)
    feat, c = stages(net, "data", 3, [(32, 1), (64, 1), (128, 1)])
    pooled = net.op("Flatten", [net.op("GlobalAveragePool", [feat])], axis=1)
    net.op("MatMul", [pooled, net.weight((c, 3), 0.01)], out="fc1")
    return net.save(path, "genderage_standin", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 96, 96])],
                    [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3])])


def swapper(path: Path) -> Path:
    net = Net(4)
    x = net.conv("target", 3, 64)
    for cin, cout in ((64, 128), (128, 256), (256, 512)):
        x = net.conv(x, cin, cout, stride=2)           # 128 -> 16 px
    x = net.conv(x, 512, 1024)
    shape = net.const([1, 1024, 1, 1], np.int64)
    for _ in range(6):                                 # residual blocks modulated by the source identity
        scale = net.op("Reshape", [net.op("MatMul", ["source", net.weight((512, 1024), 0.02)]), shape])
        shift = net.op("Reshape", [net.op("MatMul", ["source", net.weight((512, 1024), 0.02)]), shape])
        y = net.conv(x, 1024, 1024, relu=False)
        y = net.op("Add", [net.op("Mul", [y, net.op("Add", [scale, net.const(1.0)])]), shift])
        y = net.conv(net.op("Relu", [y]), 1024, 1024, relu=False)
        x = net.op("Relu", [net.op("Add", [x, y])])
    for cin, cout in ((1024, 512), (512, 256), (256, 128)):  # 16 -> 128 px
        up = net.op("Resize", [x, "", net.const([1, 1, 2, 2])], mode="nearest")
        x = net.conv(up, cin, cout)
    net.op("Sigmoid", [net.conv(x, 128, 3, relu=False)], out="output")
    emap = (net.rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)
    net.inits.append(numpy_helper.from_array(emap, "emap"))  # last initializer, as insightface reads it
    return net.save(path, "inswapper_standin",
                    [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                     helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                    [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])])


def build(root: Path, faces, image_size) -> dict[str, Path]:
    """A buffalo_l-style pack folder + a swapper; the swapper is cached (it does not depend on the image)."""
    pack = root / f"pack_{len(faces)}"
    files = {"det": pack / "det_10g.onnx", "rec": pack / "w600k_r50.onnx", "ga": pack / "genderage.onnx",
             "swapper": root / "inswapper_128.onnx"}
    detector(files["det"], faces, image_size)
    if not files["rec"].is_file():
        recogniser(files["rec"])
    if not files["ga"].is_file():
        genderage(files["ga"])
    if not files["swapper"].is_file():
        swapper(files["swapper"])
    return {**files, "pack": pack}
