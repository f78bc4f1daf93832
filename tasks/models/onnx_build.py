"""Small helpers that turn PyTorch state-dict arrays into ONNX graph nodes (for onnxruntime, without torch)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from screenalytics.tasks.models.checkpoint import load_checkpoint
from screenalytics.tasks.models.sessions import session_options

OPSET = 17


@dataclass
class GraphBuilder:
    """Accumulates nodes and constant initialisers; `name()` gives unique tensor names."""

    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    count: int = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def ops(self, op_type: str, inputs: list[str], n_out: int, **attrs) -> list[str]:
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        """x @ weight.T + bias, as nn.Linear."""
        return self.op("Add", [self.op("MatMul", [x, self.const(weight.T.astype(np.float32))]),
                               self.const(bias.astype(np.float32))])

    def lstm(self, x: str, state: dict[str, np.ndarray], prefix: str, layer: int, bidirectional: bool) -> str:
        """One nn.LSTM layer over x [seq, batch, in]; returns [seq, batch, dirs * hidden] (and keeps Y_h)."""
        suffixes = ["", "_reverse"] if bidirectional else [""]
        weights, recurrences, biases = [], [], []
        for suffix in suffixes:
            tensor = lambda kind, s=suffix: _gates(state[f"{prefix}.{kind}_l{layer}{s}"])  # noqa: E731
            weights.append(tensor("weight_ih"))
            recurrences.append(tensor("weight_hh"))
            biases.append(np.concatenate([tensor("bias_ih"), tensor("bias_hh")]))
        hidden = recurrences[0].shape[1]
        y, y_h = self.ops("LSTM", [x, self.const(np.stack(weights)), self.const(np.stack(recurrences)),
                                   self.const(np.stack(biases))], 2, hidden_size=hidden,
                          direction="bidirectional" if bidirectional else "forward")
        self.last_hidden = y_h
        y = self.op("Transpose", [y], perm=[0, 2, 1, 3])  # [seq, batch, dirs, hidden]
        return self.op("Reshape", [y, self.const(np.array([0, 0, -1], np.int64))])

    def model(self, inputs: list, outputs: list, name: str) -> bytes:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        domains = sorted({node.domain for node in self.nodes if node.domain})  # onnxruntime's contrib ops
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                        *(helper.make_opsetid(d, 1) for d in domains)])
        proto.ir_version = 8
        onnx.checker.check_model(proto)
        return proto.SerializeToString()


def _gates(array: np.ndarray) -> np.ndarray:
    """PyTorch packs LSTM gates as (input, forget, cell, output); ONNX wants (input, output, forget, cell)."""
    i, f, g, o = np.split(array.astype(np.float32), 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def float_input(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


class CheckpointNet:
    """An onnxruntime session over a network rebuilt (by `build`) from a PyTorch checkpoint, made on first use."""

    build: Callable[[dict], bytes]
    arena = False  # see `session_options`

    def __init__(self, path: Path, providers: list[str], threads: int = 2) -> None:
        self.path, self.providers, self.threads = path, providers, threads

    def graph(self, checkpoint: dict) -> bytes:
        """The ONNX graph to run on `self.providers`."""
        return type(self).build(checkpoint)

    @cached_property
    def session(self) -> ort.InferenceSession:
        return ort.InferenceSession(self.graph(load_checkpoint(self.path)),
                                    session_options(self.threads, self.arena), providers=self.providers)
