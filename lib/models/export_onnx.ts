/**
 * Export grood's own classifier to an ONNX graph (`onnx-proto`) matching the tfjs network op
 * for op in inference mode, batch normalisation folded into the convolutions, NCHW. Every
 * block's output is a tensor named after the block; the taps are also graph outputs, so
 * `inspect` proposes them. Details: `docs/internals/models.md`.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import { Data } from "effect";
import { BN_EPSILON } from "../model/batch_norm.ts";
import { boundaryShapes, type Classifier, INPUT, penultimate } from "../model/classifier.ts";
import { floatInfo, graphWriter, type OnnxModel } from "./onnx_graph.ts";
import { groodInputSpec } from "./grood_cnn.ts";
import type { ModelSpec } from "./model.ts";

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

/** The ONNX opset and IR version written (supported by onnxruntime 1.30 and PyTorch 1.13). */
const OPSET = 13;
const IR_VERSION = 7;

/** The classifier holds a block the exporter does not know how to write. */
export class UnsupportedBlock extends Data.TaggedError("UnsupportedBlock")<{
  readonly block: string;
  readonly kind: string;
}> {
  /** Names the block and its kind. */
  override get message(): string {
    return `Cannot export block "${this.block}" of kind "${this.kind}" to ONNX`;
  }
}

/** TensorFlow "same" padding of one axis: [before, after]. */
export function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** The ONNX graph of `net` and the model spec that opens it with the tfjs network's taps. */
export function classifierToOnnx(
  net: Classifier,
  earlyBoundary = "block1",
): { readonly model: OnnxModel; readonly spec: ModelSpec } {
  const value = (name: string) => net.variables.get(name)!.dataSync() as Float32Array;
  const shapes = boundaryShapes(net.spec);
  const nodes: Array<Node> = [];
  const weights: Array<Tensor> = [];
  const valueInfo: Array<onnxProto.onnx.IValueInfoProto> = [];
  const info = (name: string, shape: ReadonlyArray<number>) => floatInfo(name, ["N", ...shape]);
  const { node, ints, floats: weight } = graphWriter(nodes, weights);
  // Convolution with batch normalisation folded in (kernel × γ/√(σ²+ε), bias β − μ·γ/√(σ²+ε));
  // tfjs kernels are [kh, kw, cin, cout], ONNX weights [cout, cin, kh, kw].
  const convBn = (name: string, x: string, size: number, stride: number, relu: boolean) => {
    const kernel = net.variables.get(`${name}/kernel`)!;
    const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
    const k = value(`${name}/kernel`);
    const bn = (stat: string) => value(`${name}/bn/${stat}`);
    const [gamma, beta, mean, variance] = [bn("gamma"), bn("beta"), bn("mean"), bn("variance")];
    const scale = Float32Array.from(gamma, (g, o) => g / Math.sqrt(variance[o]! + BN_EPSILON));
    const w = new Float32Array(cout * cin * kh * kw);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let c = 0; c < cin; c++) {
          for (let o = 0; o < cout; o++) {
            w[((o * cin + c) * kh + i) * kw + j] = k[((i * kw + j) * cin + c) * cout + o]! *
              scale[o]!;
          }
        }
      }
    }
    const bias = Float32Array.from(beta, (b, o) => b - mean[o]! * scale[o]!);
    const [top, bottom] = samePadding(size, kh, stride);
    const [left, right] = samePadding(size, kw, stride);
    const conv = node(
      "Conv",
      [x, weight(`${name}/W`, [cout, cin, kh, kw], w), weight(`${name}/B`, [cout], bias)],
      relu ? `${name}/conv` : name,
      [
        ints("kernel_shape", [kh, kw]),
        ints("strides", [stride, stride]),
        ints("pads", [top, left, bottom, right]),
      ],
    );
    return relu ? node("Relu", [conv], name) : conv;
  };
  let x = INPUT;
  let size = net.spec.inputShape[0];
  for (const block of net.spec.blocks) {
    switch (block.kind) {
      case "conv":
        x = convBn(block.name, x, size, block.stride, true);
        break;
      case "residual": {
        const hidden = convBn(`${block.name}/conv1`, x, size, block.stride, true);
        const half = Math.ceil(size / block.stride);
        const branch = convBn(`${block.name}/conv2`, hidden, half, 1, false);
        const shortcut = net.variables.has(`${block.name}/shortcut/kernel`)
          ? convBn(`${block.name}/shortcut`, x, size, block.stride, false)
          : x;
        x = node("Relu", [node("Add", [branch, shortcut], `${block.name}/add`)], block.name);
        break;
      }
      case "globalAvgPool":
        x = node("Flatten", [node("GlobalAveragePool", [x], `${block.name}/gap`)], block.name);
        break;
      case "dense": {
        const kernel = net.variables.get(`${block.name}/kernel`)!;
        x = node("Gemm", [
          x,
          weight(`${block.name}/W`, kernel.shape, value(`${block.name}/kernel`)),
          weight(`${block.name}/B`, [block.units], value(`${block.name}/bias`)),
        ], block.name);
        break;
      }
      default:
        throw new UnsupportedBlock({
          block: (block as { name: string }).name,
          kind: (block as { kind: string }).kind,
        });
    }
    const shape = shapes.get(block.name)!;
    size = shape.length === 3 ? shape[0]! : size;
    // Spatial blocks are NCHW in the graph.
    valueInfo.push(
      info(block.name, shape.length === 3 ? [shape[2]!, shape[0]!, shape[1]!] : shape),
    );
  }
  const [h, w, c] = net.spec.inputShape;
  const pen = penultimate(net.spec);
  const logits = net.boundaries[net.boundaries.length - 1]!;
  const tapNames = [earlyBoundary, pen, logits];
  const outputs = valueInfo.filter((v) => tapNames.includes(v.name ?? ""));
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: "grood",
    opsetImport: [{ domain: "", version: OPSET }],
    graph: {
      name: "grood-classifier",
      node: nodes,
      initializer: weights,
      input: [info(INPUT, [c, h, w])],
      output: outputs,
      valueInfo: valueInfo.filter((v) => !tapNames.includes(v.name ?? "")),
    },
  });
  const spec: ModelSpec = {
    kind: "onnx",
    input: { ...groodInputSpec(net), layout: "NCHW" },
    taps: { early: earlyBoundary, penultimate: pen, logits },
  };
  return { model, spec };
}
