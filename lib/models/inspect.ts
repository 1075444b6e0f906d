/**
 * What a model holds and where its taps probably are: every tensor (name, shape, op) and a
 * proposal for the early, penultimate and logits taps, for a user who brings a model and does
 * not know its tensor names.
 *
 * Heuristics (ONNX):
 * - logits: the last 2-D graph output;
 * - penultimate: the data input of the last `Gemm`/`MatMul`;
 * - early: a 4-D graph output if the exporter marked one (as `torch.onnx.export` with named
 *   outputs, and grood's own exporter, do); otherwise the last activation at the first
 *   resolution below the input's (the output of the first downsampling stage).
 * Shapes are measured by running one zero image with every float tensor as an output, so they
 * are known even where the file declares none.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { Compute } from "../compute/compute.ts";
import { loadClassifier } from "../model/store.ts";
import { type ModelError, ModelUnreadable } from "./errors.ts";
import { groodTaps } from "./grood_cnn.ts";
import type { Taps } from "./model.ts";
import { onnxSession, readOnnxFile, runSession } from "./onnx.ts";
import {
  declaredShape,
  encodeOnnx,
  listTensors,
  type OnnxModel,
  realInputs,
  type TensorInfo,
  withOutputs,
} from "./onnx_graph.ts";

/** A model's tensors and the proposed taps (a tap is missing when no tensor fits). */
export interface Inspection {
  readonly model: string;
  readonly kind: string;
  readonly tensors: ReadonlyArray<TensorInfo>;
  readonly proposed: Partial<Taps>;
}

/** Ops whose outputs are integers or shapes, never features (not measured). */
const NON_FEATURE_OPS = new Set([
  "Shape",
  "Size",
  "NonZero",
  "ArgMax",
  "ArgMin",
  "Constant",
  "ConstantOfShape",
  "Cast",
  "Range",
  "TopK",
  "Gather",
  "Unsqueeze",
  "Squeeze",
  "Concat",
]);
/** Ops that end a block: where an early tap sits. */
const ACTIVATIONS = new Set([
  "Relu",
  "Add",
  "MaxPool",
  "AveragePool",
  "Clip",
  "LeakyRelu",
  "Sigmoid",
  "HardSwish",
  "Mul",
]);

/** Measure tensor shapes with one zero image; tensors that cannot be measured keep their declared shape. */
const measureShapes = (path: string, model: OnnxModel) =>
  Effect.gen(function* () {
    const tensors = listTensors(model);
    const input = realInputs(model.graph!)[0]!;
    const dims = (declaredShape(input) ?? []).map((d) => (d < 0 ? 1 : d));
    const measurable = tensors.filter((t) => t.op !== "Input" && !NON_FEATURE_OPS.has(t.op));
    const session = yield* onnxSession(
      path,
      encodeOnnx(withOutputs(model, measurable.map((t) => t.name))),
    );
    const zero = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), shape: dims };
    const outputs = yield* runSession(
      path,
      session,
      input.name ?? "",
      zero,
      measurable.map((t) => t.name),
    );
    const measured = new Map(measurable.map((t, i) => [t.name, outputs[i]!.shape]));
    return tensors.map((t): TensorInfo => {
      const shape = measured.get(t.name) ?? (t.op === "Input" ? dims : t.shape);
      return shape === undefined
        ? { name: t.name, op: t.op }
        : { ...t, shape: shape.map((d, i) => (i === 0 ? -1 : d)) };
    });
  });

/** Propose taps from measured tensors (see the module doc for the rules). */
export function proposeOnnxTaps(
  model: OnnxModel,
  tensors: ReadonlyArray<TensorInfo>,
  layout: "NCHW" | "NHWC" = "NCHW",
): Partial<Taps> {
  const graph = model.graph!;
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const rank = (name: string) => byName.get(name)?.shape?.length ?? 0;
  const outputs = (graph.output ?? []).map((o) => o.name ?? "");
  const logits = outputs.filter((o) => rank(o) === 2).at(-1);
  const lastDense = (graph.node ?? []).filter((n) => n.opType === "Gemm" || n.opType === "MatMul")
    .at(-1);
  const penultimate = lastDense?.input?.[0];
  let early = outputs.find((o) => rank(o) === 4);
  if (early === undefined) {
    const area = (t: TensorInfo) =>
      layout === "NCHW" ? t.shape![2]! * t.shape![3]! : t.shape![1]! * t.shape![2]!;
    const spatial = tensors.filter((t) => t.shape?.length === 4);
    const input = spatial.find((t) => t.op === "Input");
    const full = input === undefined ? Math.max(...spatial.map(area)) : area(input);
    const firstReduced = spatial.find((t) => area(t) < full);
    if (firstReduced !== undefined) {
      early = spatial.filter((t) => area(t) === area(firstReduced) && ACTIVATIONS.has(t.op)).at(-1)
        ?.name;
    }
  }
  return {
    ...(early === undefined ? {} : { early }),
    ...(penultimate === undefined ? {} : { penultimate }),
    ...(logits === undefined ? {} : { logits }),
  };
}

/** Inspect an ONNX file: its tensors with measured shapes and the proposed taps. */
export const inspectOnnx = (
  path: string,
  layout: "NCHW" | "NHWC" = "NCHW",
): Effect.Effect<Inspection, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    const model = yield* readOnnxFile(path);
    const tensors = yield* measureShapes(path, model);
    return {
      model: path,
      kind: "onnx",
      tensors,
      proposed: proposeOnnxTaps(model, tensors, layout),
    };
  });

/** Inspect a grood model folder: its block boundaries (NHWC shapes) and default taps. */
export const inspectGrood = (
  path: string,
): Effect.Effect<Inspection, ModelError, Scope.Scope | Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const { net } = yield* Effect.acquireRelease(
      Effect.mapError(
        loadClassifier(tf, path),
        (error) => new ModelUnreadable({ model: path, problem: error.problem }),
      ),
      (loaded) => Effect.sync(() => loaded.net.dispose()),
    );
    const tensors = net.boundaries.map((b, i) => ({
      name: b,
      op: i === 0 ? "Input" : net.spec.blocks[i - 1]!.kind,
      shape: [-1, ...net.shapeAt(b)],
    }));
    return { model: path, kind: "grood", tensors, proposed: groodTaps(net) };
  });
