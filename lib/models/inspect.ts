/**
 * What a model holds (every tensor: name, op, shape) and a proposal for its early, penultimate
 * and logits taps, for a user who does not know its tensor names. The heuristics are in
 * `docs/internals/models.md`; shapes are measured on one zero image where the file has none.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { Compute } from "../compute/compute.ts";
import { type ModelError, ModelRunFailed } from "./errors.ts";
import { groodTaps } from "./grood_cnn.ts";
import { loadGroodNet } from "./grood_open.ts";
import type { Taps } from "./model.ts";
import { readOnnxFile } from "./onnx.ts";
import { onnxSession, runSession } from "./onnx_session.ts";
import { loadTfjsModel, type TfjsFormat } from "./tfjs.ts";
import { nodeOf } from "./tfjs_head.ts";
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
  /** The model's path. */
  readonly model: string;
  /** Its kind (`grood`, `onnx`, `tfjs-layers`, `tfjs-graph`). */
  readonly kind: string;
  /** Every tensor of its graph, with its producing op and shape. */
  readonly tensors: ReadonlyArray<TensorInfo>;
  /** The taps proposed for it (a tap is absent when no tensor fits it). */
  readonly proposed: Partial<Taps>;
}

/** Ops whose outputs are integers or shapes, never features (not measured). */
const NON_FEATURE_OPS = new Set(
  ("Shape Size NonZero ArgMax ArgMin Constant ConstantOfShape Cast Range TopK Gather Unsqueeze " +
    "Squeeze Concat").split(" "),
);
/** Ops that end a block: where an early tap sits. */
const ACTIVATIONS = new Set(
  "Relu Add MaxPool AveragePool Clip LeakyRelu Sigmoid HardSwish Mul".split(" "),
);

/** A tensor's info, its shape (when known) with a free batch axis. */
const infoOf = (name: string, op: string, shape: ReadonlyArray<number | null> | undefined) =>
  shape === undefined
    ? { name, op }
    : { name, op, shape: shape.map((d, i) => i === 0 || d === null ? -1 : d) };

/** Tensor shapes measured on one zero image (the others keep their declared shape). */
const measureShapes = (path: string, model: OnnxModel) =>
  Effect.gen(function* () {
    const tensors = listTensors(model);
    const input = realInputs(model.graph!)[0]!;
    const dims = (declaredShape(input) ?? []).map((d) => (d < 0 ? 1 : d));
    const measurable = tensors.filter((t) => t.op !== "Input" && !NON_FEATURE_OPS.has(t.op));
    const session = yield* onnxSession(
      path,
      encodeOnnx(withOutputs(model, measurable.map((t) => t.name))),
      // One pass of one image: a worker's start would cost more than it frees.
      { thread: "caller" },
    );
    const zero = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), shape: dims };
    const names = measurable.map((t) => t.name);
    const outputs = yield* runSession(session, input.name ?? "", zero, names);
    const measured = new Map(names.map((name, i) => [name, outputs[i]!.shape]));
    return tensors.map((t) =>
      infoOf(t.name, t.op, measured.get(t.name) ?? (t.op === "Input" ? dims : t.shape))
    );
  });

/**
 * The 4-D tensors (`spatial`) and those of them at the first resolution below the input's
 * (`reduced`, empty when none is smaller), in graph order; `layout` says where H and W are.
 */
const firstDownsampled = (tensors: ReadonlyArray<TensorInfo>, layout: "NCHW" | "NHWC") => {
  const spatial = tensors.filter((t) => t.shape?.length === 4);
  const area = (t: TensorInfo) =>
    layout === "NCHW" ? t.shape![2]! * t.shape![3]! : t.shape![1]! * t.shape![2]!;
  const input = spatial.find((t) => t.op === "Input");
  const full = input === undefined ? Math.max(...spatial.map(area)) : area(input);
  const first = spatial.find((t) => area(t) < full);
  return { spatial, reduced: first ? spatial.filter((t) => area(t) === area(first)) : [] };
};

/** The taps found (a tap is left out when no tensor fits it). */
const tapsOf = (...found: Array<string | undefined>): Partial<Taps> =>
  Object.fromEntries(
    (["early", "penultimate", "logits"] as const).flatMap((tap, i) =>
      found[i] === undefined ? [] : [[tap, found[i]]]
    ),
  );

/** Propose taps from measured tensors (rules: `docs/internals/models.md`). */
export function proposeOnnxTaps(
  model: OnnxModel,
  tensors: ReadonlyArray<TensorInfo>,
  layout: "NCHW" | "NHWC" = "NCHW",
): Partial<Taps> {
  const graph = model.graph!;
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const rank = (name: string) => byName.get(name)?.shape?.length ?? 0;
  const outputs = (graph.output ?? []).map((o) => o.name ?? "");
  const lastDense = (graph.node ?? []).filter((n) => n.opType === "Gemm" || n.opType === "MatMul")
    .at(-1);
  return tapsOf(
    outputs.find((o) => rank(o) === 4) ??
      firstDownsampled(tensors, layout).reduced.filter((t) => ACTIVATIONS.has(t.op)).at(-1)?.name,
    lastDense?.input?.[0],
    outputs.filter((o) => rank(o) === 2).at(-1),
  );
}

/** The early tap of NHWC tensors (rules: `docs/internals/models.md`). */
const nhwcEarly = (tensors: ReadonlyArray<TensorInfo>): string | undefined => {
  const { spatial, reduced } = firstDownsampled(tensors, "NHWC");
  return (reduced.length === 0 ? spatial.filter((t) => t.op !== "Input") : reduced).at(-1)?.name;
};

/** Inspect an ONNX file: its tensors with measured shapes and the proposed taps. */
export const inspectOnnx = (
  path: string,
  layout: "NCHW" | "NHWC" = "NCHW",
): Effect.Effect<Inspection, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    const model = yield* readOnnxFile(path);
    const tensors = yield* measureShapes(path, model);
    const proposed = proposeOnnxTaps(model, tensors, layout);
    return { model: path, kind: "onnx", tensors, proposed };
  });

/** Inspect a grood model folder: its block boundaries (NHWC shapes) and default taps. */
export const inspectGrood = (
  path: string,
): Effect.Effect<Inspection, ModelError, Scope.Scope | Compute> =>
  Effect.map(loadGroodNet(path), ({ net }) => ({
    model: path,
    kind: "grood",
    tensors: net.boundaries.map((b, i) => ({
      name: b,
      op: i === 0 ? "Input" : net.spec.blocks[i - 1]!.kind,
      shape: [-1, ...net.shapeAt(b)],
    })),
    proposed: groodTaps(net),
  }));

/** Inspect a tfjs LayersModel or GraphModel (`model.json`): layers or nodes, and taps. */
export const inspectTfjs = (
  path: string,
  format: TfjsFormat,
): Effect.Effect<Inspection, ModelError, Scope.Scope | Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const engine = yield* loadTfjsModel(tf, path, format);
    if (engine.kind === "layers") {
      const tensors = engine.model.layers.map((layer) => {
        const shape = layer.outputShape;
        return infoOf(
          layer.name,
          layer.getClassName() === "InputLayer" ? "Input" : layer.getClassName(),
          Array.isArray(shape[0]) ? undefined : shape as Array<number | null>,
        );
      });
      const dense = engine.model.layers.filter((l) => l.getClassName() === "Dense").at(-1);
      const last = tensors.at(-1);
      const proposed = tapsOf(
        nhwcEarly(tensors),
        dense?.inboundNodes[0]?.inboundLayers[0]?.name,
        last?.shape?.length === 2 ? last.name : undefined,
      );
      return { model: path, kind: "tfjs-layers", tensors, proposed };
    }
    const { model } = engine;
    const nodes = engine.nodes.filter((n) => n.op !== "Const");
    const input = model.inputs[0]!;
    const dims = (input.shape ?? []).map((d) => (d === null || d < 0 ? 1 : d));
    const measured = nodes.filter((n) => n.op !== "Placeholder").map((n) => n.name);
    const shapes = yield* Effect.try({
      try: () =>
        tf.tidy(() => {
          const out = model.execute({ [input.name]: tf.zeros(dims) }, measured);
          return (Array.isArray(out) ? out : [out]).map((t) => t.shape);
        }),
      catch: (error) => new ModelRunFailed({ model: path, problem: String(error) }),
    });
    const byName = new Map(measured.map((name, i) => [name, shapes[i]!]));
    const tensors = nodes.map((n) =>
      n.op === "Placeholder"
        ? infoOf(n.name, "Input", dims)
        : infoOf(n.name, n.op, byName.get(n.name))
    );
    const matmul = nodes.filter((n) => n.op === "MatMul").at(-1);
    const proposed = tapsOf(
      nhwcEarly(tensors),
      matmul?.input?.[0] === undefined ? undefined : nodeOf(matmul.input[0]),
      model.outputNodes[0]?.replace(/:\d+$/, ""),
    );
    return { model: path, kind: "tfjs-graph", tensors, proposed };
  });
