/**
 * ODIN's input gradient of grood's CNN as an ONNX graph: g = ∂/∂x Σᵢ CE(f(xᵢ)/T, argmax f(xᵢ))
 * for a batch `input` (NCHW) and a scalar `temperature`, output `gradient`. The backward pass
 * is written as forward ops on top of `classifierToOnnx`'s graph, every step exact (the rules
 * per block are in `docs/internals/models.md`); `grood_onnx.ts` checks it against tfjs.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import { type Classifier, INPUT } from "../model/classifier.ts";
import { classifierToOnnx, samePadding } from "./export_onnx.ts";
import { floatInfo, graphWriter, type OnnxModel } from "./onnx_graph.ts";

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
type Attribute = onnxProto.onnx.IAttributeProto;

/** The gradient graph's temperature input (a float32 scalar). */
export const TEMPERATURE_INPUT = "temperature";
/** The gradient graph's output (∂/∂input, NCHW). */
export const GRADIENT_OUTPUT = "gradient";

const INT64 = 7;

/** The gradient graph of `net` (its current weights). */
export function classifierGradientToOnnx(net: Classifier): OnnxModel {
  const forward = classifierToOnnx(net).model;
  const graph = forward.graph!;
  const nodes: Array<Node> = [...(graph.node ?? [])];
  const weights: Array<Tensor> = [...(graph.initializer ?? [])];
  const dims = (name: string) =>
    (weights.find((w) => w.name === name)?.dims ?? []).map((d) => Number(d));
  const { node, int, ints, floats } = graphWriter(nodes, weights);
  const int64s = (name: string, values: ReadonlyArray<number>) => {
    weights.push(
      onnx.TensorProto.create({
        name,
        dims: [values.length],
        dataType: INT64,
        rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer),
      }),
    );
    return name;
  };
  const zero = floats("grad/zero", [], [0]);
  // ReLU backward: the gradient where the pre-activation is positive, else 0.
  const reluBack = (dy: string, pre: string, out: string) =>
    node("Where", [node("Greater", [pre, zero], `${out}/mask`), dy, zero], out);
  // Convolution backward to its input (of spatial size `size`): ConvTranspose, same weights.
  const convBack = (dy: string, conv: string, size: number, stride: number, out: string) => {
    const [, , kh, kw] = dims(`${conv}/W`) as [number, number, number, number];
    const [top, bottom] = samePadding(size, kh, stride);
    const [left, right] = samePadding(size, kw, stride);
    const outSize = Math.ceil(size / stride);
    const padding = (k: number, before: number, after: number) =>
      size - (stride * (outSize - 1) + k - before - after);
    return node("ConvTranspose", [dy, `${conv}/W`], out, [
      ints("kernel_shape", [kh, kw]),
      ints("strides", [stride, stride]),
      ints("pads", [top, left, bottom, right]),
      ints("output_padding", [padding(kh, top, bottom), padding(kw, left, right)]),
    ]);
  };
  const blocks = net.spec.blocks;
  const inputsOf = blocks.map((_, i) => i === 0 ? INPUT : blocks[i - 1]!.name);
  const sizes = inputsOf.map((b) => net.shapeAt(b));
  const logits = blocks[blocks.length - 1]!.name;
  const numClasses = net.numClasses;
  // ∂/∂z of Σ CE(z/T, argmax z) = (softmax(z/T) − onehot) / T.
  const probabilities = node(
    "Softmax",
    [node("Div", [logits, TEMPERATURE_INPUT], "grad/scaled")],
    "grad/softmax",
    [int("axis", 1)],
  );
  const predicted = node("ArgMax", [logits], "grad/argmax", [int("axis", 1), int("keepdims", 0)]);
  const onehot = node(
    "OneHot",
    [predicted, int64s("grad/depth", [numClasses]), floats("grad/onoff", [2], [0, 1])],
    "grad/onehot",
    [int("axis", -1)],
  );
  let dy = node(
    "Div",
    [node("Sub", [probabilities, onehot], "grad/residual"), TEMPERATURE_INPUT],
    `grad/${logits}`,
  );
  for (let i = blocks.length - 1; i >= 0; i--) {
    const block = blocks[i]!;
    const inputShape = sizes[i]!;
    const out = `grad/${inputsOf[i]}`;
    switch (block.kind) {
      case "dense":
        dy = node("Gemm", [dy, `${block.name}/W`], out, [int("transB", 1)]);
        break;
      case "globalAvgPool": {
        const [h, w, c] = inputShape as [number, number, number];
        const g = `grad/${block.name}`;
        const spread = node("Unsqueeze", [dy, int64s(`${g}/axes`, [2, 3])], `${g}/unsqueeze`);
        const scaled = node("Mul", [spread, floats(`${g}/area`, [], [1 / (h * w)])], `${g}/mean`);
        dy = node("Expand", [scaled, int64s(`${g}/shape`, [1, c, h, w])], out);
        break;
      }
      case "conv": {
        const pre = reluBack(dy, `${block.name}/conv`, `grad/${block.name}/conv`);
        dy = convBack(pre, block.name, inputShape[0]!, block.stride, out);
        break;
      }
      case "residual": {
        const { name: b, stride } = block;
        const [g, size] = [`grad/${b}`, inputShape[0]!];
        const sum = reluBack(dy, `${b}/add`, `${g}/add`);
        const hidden = convBack(sum, `${b}/conv2`, Math.ceil(size / stride), 1, `${g}/conv1`);
        const hiddenPre = reluBack(hidden, `${b}/conv1/conv`, `${g}/conv1/conv`);
        const branch = convBack(hiddenPre, `${b}/conv1`, size, stride, `${g}/branch`);
        const shortcut = net.variables.has(`${b}/shortcut/kernel`)
          ? convBack(sum, `${b}/shortcut`, size, stride, `${g}/shortcut`)
          : sum;
        dy = node("Add", [branch, shortcut], out);
        break;
      }
    }
  }
  node("Identity", [dy], GRADIENT_OUTPUT);
  const [h, w, c] = net.spec.inputShape;
  return onnx.ModelProto.create({
    ...forward,
    graph: onnx.GraphProto.create({
      name: "grood-classifier-input-gradient",
      node: nodes,
      initializer: weights,
      input: [floatInfo(INPUT, ["N", c, h, w]), floatInfo(TEMPERATURE_INPUT, [])],
      output: [floatInfo(GRADIENT_OUTPUT, ["N", c, h, w])],
      valueInfo: graph.valueInfo ?? [],
    }),
  });
}
