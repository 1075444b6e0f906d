/**
 * The classifier head of an ONNX graph, its weights read from initializers or `Constant` nodes:
 * `Gemm(h, B, C)` (z = α·h·B′ + β·C, B′ = Bᵀ when `transB` = 1; `transA` = 0; C optional), or
 * `MatMul(h, W)` alone or followed by `Add` of a bias. Anything else (an activation, a Softmax
 * as the "logits", a weight computed at run time) is `HeadUnreadable`.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import { Effect } from "effect";
import { FLOAT, type OnnxModel, toNumber } from "./onnx_graph.ts";
import { type Head, headFrom, HeadUnreadable } from "./head.ts";
import type { Taps } from "./model.ts";

type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

/** A float32 tensor's values and dims (raw little-endian bytes or `floatData`). */
function floatsOf(tensor: Tensor): { readonly values: Float32Array; readonly dims: number[] } {
  const dims = (tensor.dims ?? []).map(toNumber);
  const raw = tensor.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = Float32Array.from(
      { length: raw.byteLength / 4 },
      (_, i) => view.getFloat32(4 * i, true),
    );
    return { values, dims };
  }
  return { values: Float32Array.from(tensor.floatData ?? []), dims };
}

/** An attribute's value (`f` for floats, `i` for ints), or `fallback` when the node has none. */
function attribute(node: Node, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  const float = a?.type === onnxProto.onnx.AttributeProto.AttributeType.FLOAT;
  return a === undefined ? fallback : float ? a.f ?? fallback : toNumber(a.i);
}

/** Read the head of `model` between `taps.penultimate` and `taps.logits` (`name` in errors). */
export const onnxHead = (
  name: string,
  model: OnnxModel,
  taps: Pick<Taps, "penultimate" | "logits">,
): Effect.Effect<Head, HeadUnreadable> =>
  Effect.suspend(() => {
    const graph = model.graph!;
    const fail = (reason: string) => Effect.fail(new HeadUnreadable({ model: name, reason }));
    const producer = new Map(
      (graph.node ?? []).flatMap((node) => (node.output ?? []).map((o) => [o, node] as const)),
    );
    const constants = new Map<string, Tensor>();
    for (const t of graph.initializer ?? []) constants.set(t.name ?? "", t);
    for (const node of graph.node ?? []) {
      const value = (node.attribute ?? []).find((a) => a.name === "value")?.t;
      if (node.opType === "Constant" && value) constants.set(node.output?.[0] ?? "", value);
    }
    const weight = (tensor: string | undefined, role: string) => {
      const t = constants.get(tensor ?? "");
      if (t === undefined) {
        return { error: `its ${role} "${tensor}" is computed, not a stored weight` } as const;
      }
      if ((t.dataType ?? FLOAT) !== FLOAT) {
        return { error: `its ${role} "${tensor}" is not float32 (type ${t.dataType})` } as const;
      }
      return floatsOf(t);
    };
    const { penultimate, logits } = taps;
    const last = producer.get(logits);
    if (last === undefined) return fail(`the logits tap "${logits}" is not made by a node`);
    // MatMul + Add: the Add's other operand is the bias.
    let affine = last;
    let biasName: string | undefined;
    if (last.opType === "Add") {
      const inputs = last.input ?? [];
      const at = inputs.findIndex((i) => producer.get(i)?.opType === "MatMul");
      if (inputs.length !== 2 || at < 0) {
        return fail(`the logits tap "${logits}" is an Add that does not follow a MatMul`);
      }
      affine = producer.get(inputs[at]!)!;
      biasName = inputs[1 - at];
    }
    if (affine.opType !== "Gemm" && affine.opType !== "MatMul") {
      return fail(
        `the logits tap "${logits}" is made by ${affine.opType}, not by a Gemm or a MatMul ` +
          `(+ Add) of the penultimate tap (a non-linear last layer has no readable head)`,
      );
    }
    const [a, b, c] = affine.input ?? [];
    if (a !== penultimate) {
      return fail(
        `the ${affine.opType} before the logits tap "${logits}" reads "${a}", not the ` +
          `penultimate tap "${penultimate}"`,
      );
    }
    const gemm = affine.opType === "Gemm";
    if (gemm && attribute(affine, "transA", 0) !== 0) {
      return fail(`the Gemm before "${logits}" transposes the penultimate features (transA = 1)`);
    }
    if (gemm) biasName = c === "" ? undefined : c;
    const w = weight(b, "weight");
    if ("error" in w) return fail(w.error);
    if (w.dims.length !== 2) {
      return fail(`its weight "${b}" has ${w.dims.length} dimensions, not 2`);
    }
    const transposed = gemm && attribute(affine, "transB", 0) === 1;
    const [inputSize, numClasses] = transposed
      ? [w.dims[1]!, w.dims[0]!]
      : [w.dims[0]!, w.dims[1]!];
    let bias: Float32Array | undefined;
    if (biasName !== undefined) {
      const read = weight(biasName, "bias");
      if ("error" in read) return fail(read.error);
      const size = read.values.length;
      if (size !== numClasses && size !== 1) {
        return fail(`its bias "${biasName}" has ${size} values for ${numClasses} classes`);
      }
      bias = read.values;
    }
    return Effect.succeed(headFrom(w.values, inputSize, numClasses, {
      transposed,
      ...(bias && { bias }),
      scale: gemm ? attribute(affine, "alpha", 1) : 1,
      biasScale: gemm ? attribute(affine, "beta", 1) : 1,
    }));
  });
