/**
 * ONNX graphs as data (npm `onnx-proto`): read a model, list its tensors, and cut the sub-graph
 * between named tensors (only the nodes and weights the outputs need), so onnxruntime can run
 * from one tap to another.
 *
 * @module
 */
import onnxProto from "onnx-proto";
import { Effect } from "effect";
import type { MissingTap } from "./errors.ts";
import { ModelUnreadable, TapDoesNotCut } from "./errors.ts";
import { describeError, requireTensors } from "./model.ts";

const { onnx } = onnxProto;
/** The decoded ONNX model type. */
export type OnnxModel = onnxProto.onnx.IModelProto;
type Graph = onnxProto.onnx.IGraphProto;
type ValueInfo = onnxProto.onnx.IValueInfoProto;

/** ONNX's float element type. */
export const FLOAT = 1;

/** A protobuf int64 (a `Long` when decoded) as a number. */
export const toNumber = (v: unknown): number =>
  typeof v === "number" ? v : v === null || v === undefined ? 0 : Number(String(v));

type Tensor = onnxProto.onnx.ITensorProto;

/** Every tensor a graph holds: initializers (sparse too), constants, and those of sub-graphs. */
function* graphTensors(graph: Graph): Generator<Tensor> {
  yield* graph.initializer ?? [];
  for (const sparse of graph.sparseInitializer ?? []) {
    if (sparse.values) yield sparse.values;
    if (sparse.indices) yield sparse.indices;
  }
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) yield a.t;
      yield* a.tensors ?? [];
      for (const sparse of [a.sparseTensor, ...(a.sparseTensors ?? [])]) {
        if (sparse?.values) yield sparse.values;
        if (sparse?.indices) yield sparse.indices;
      }
      for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) yield* graphTensors(sub);
    }
  }
}

/**
 * The first tensor whose data lives in an external file, described, if any: onnxruntime would
 * read it from the working directory, unhashed and not carried by a copy (`docs/internals/models.md`).
 */
function externalTensor(graph: Graph): string | undefined {
  for (const tensor of graphTensors(graph)) {
    if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      const location = tensor.externalData?.find((e) => e.key === "location")?.value;
      return `tensor ${JSON.stringify(tensor.name ?? "")} keeps its data in an external file ` +
        `(${JSON.stringify(location ?? "")}); grood reads self-contained ONNX files only ` +
        "(save the model with its weights inside it)";
    }
  }
  return undefined;
}

/** Decode ONNX bytes; refused when not an ONNX model or when it keeps external data. */
export const decodeOnnx = (model: string, bytes: Uint8Array) =>
  Effect.flatMap(
    Effect.try({
      try: () => {
        const decoded = onnx.ModelProto.decode(bytes);
        if (!decoded.graph || (decoded.graph.node ?? []).length === 0) {
          throw new Error("no graph or an empty graph");
        }
        return decoded;
      },
      catch: (error) =>
        new ModelUnreadable({ model, problem: `not an ONNX model (${describeError(error)})` }),
    }),
    (decoded) => {
      const external = externalTensor(decoded.graph!);
      return external === undefined
        ? Effect.succeed(decoded)
        : Effect.fail(new ModelUnreadable({ model, problem: external }));
    },
  );

/** Encode a model to bytes (for onnxruntime or a file). */
export const encodeOnnx = (model: OnnxModel): Uint8Array => onnx.ModelProto.encode(model).finish();

/** The declared shape of a value (−1 for a symbolic or unknown dimension), if any. */
export function declaredShape(info: ValueInfo | undefined): ReadonlyArray<number> | undefined {
  return info?.type?.tensorType?.shape?.dim?.map((d) =>
    d.dimValue !== null && d.dimValue !== undefined && !d.dimParam ? toNumber(d.dimValue) : -1
  );
}

/** One tensor of a graph: its name, the op that makes it, its declared shape. */
export interface TensorInfo {
  /** The tensor's name in the graph (what a tap names). */
  readonly name: string;
  /** `Input` for graph inputs, else the producing node's op type. */
  readonly op: string;
  /** Declared shape, when the file has one (−1 = dynamic). */
  readonly shape?: ReadonlyArray<number>;
}

const initializerNames = (graph: Graph): Set<string> =>
  new Set((graph.initializer ?? []).map((t) => t.name ?? ""));

/** The declared value infos of a graph by name (inputs over outputs over intermediates). */
const valueInfos = (graph: Graph): Map<string, ValueInfo> =>
  new Map(
    [...(graph.valueInfo ?? []), ...(graph.output ?? []), ...(graph.input ?? [])]
      .map((v) => [v.name ?? "", v]),
  );

/** The graph inputs that are real inputs (not weights listed as inputs by old exporters). */
export function realInputs(graph: Graph): ReadonlyArray<ValueInfo> {
  const weights = initializerNames(graph);
  return (graph.input ?? []).filter((i) => !weights.has(i.name ?? ""));
}

/** Every tensor a graph computes (inputs, then node outputs in graph order). */
export function listTensors(model: OnnxModel): ReadonlyArray<TensorInfo> {
  const graph = model.graph!;
  const infos = valueInfos(graph);
  const out: Array<TensorInfo> = [];
  const push = (name: string, op: string) => {
    const shape = declaredShape(infos.get(name));
    out.push(shape === undefined ? { name, op } : { name, op, shape });
  };
  for (const input of realInputs(graph)) push(input.name ?? "", "Input");
  for (const node of graph.node ?? []) {
    for (const name of node.output ?? []) if (name !== "") push(name, node.opType ?? "?");
  }
  return out;
}

/** Check that every named tensor exists in the graph; the error names the tap and tensor. */
export const checkTensors = (
  modelName: string,
  model: OnnxModel,
  wanted: Readonly<Record<string, string>>,
): Effect.Effect<void, MissingTap> =>
  requireTensors(modelName, wanted, listTensors(model).map((t) => t.name));

/**
 * The sub-graph that computes `outputs` from `inputs`: only the nodes those outputs need
 * (walking back from them, stopping at `inputs` and weights), in the original order. Fails
 * with `TapDoesNotCut` when an output still needs a tensor that is neither given nor a weight.
 */
export const extractSubgraph = (
  modelName: string,
  model: OnnxModel,
  inputs: ReadonlyArray<string>,
  outputs: ReadonlyArray<string>,
): Effect.Effect<OnnxModel, TapDoesNotCut | MissingTap> =>
  Effect.gen(function* () {
    const graph = model.graph!;
    const named = Object.fromEntries([...inputs, ...outputs].map((t) => [t, t]));
    yield* checkTensors(modelName, model, named);
    const producer = new Map(
      (graph.node ?? []).flatMap((node, i) => (node.output ?? []).map((o) => [o, i] as const)),
    );
    const weights = initializerNames(graph);
    const given = new Set(inputs);
    const keep = new Set<number>();
    const usedWeights = new Set<string>();
    const from = inputs.join(", ");
    for (const target of outputs) {
      const stack = [target];
      const seen = new Set<string>();
      while (stack.length > 0) {
        const name = stack.pop()!;
        if (name === "" || seen.has(name)) continue;
        seen.add(name);
        if (given.has(name)) continue;
        if (weights.has(name)) {
          usedWeights.add(name);
          continue;
        }
        const i = producer.get(name);
        if (i === undefined) {
          return yield* new TapDoesNotCut({ model: modelName, from, to: target, tensor: name });
        }
        if (keep.has(i)) continue;
        keep.add(i);
        stack.push(...(graph.node![i]!.input ?? []));
      }
    }
    const infos = valueInfos(graph);
    // Keep the element type, drop declared shapes: an export with a fixed batch size must not
    // pin the sub-graph to it (the adapter checks shapes itself).
    const valueOf = (name: string) =>
      typedInfo(name, infos.get(name)?.type?.tensorType?.elemType ?? FLOAT);
    const sub: Graph = onnx.GraphProto.create({
      name: `${graph.name ?? "graph"}:${inputs.join("+")}->${outputs.join("+")}`,
      node: (graph.node ?? []).filter((_, i) => keep.has(i)),
      initializer: (graph.initializer ?? []).filter((t) => usedWeights.has(t.name ?? "")),
      input: inputs.map(valueOf),
      output: outputs.map(valueOf),
      valueInfo: (graph.valueInfo ?? []).filter((v) => !given.has(v.name ?? "")),
    });
    return onnx.ModelProto.create({ ...model, graph: sub });
  });

/** The declaration of a tensor by its element type only (no shape to pin the batch size). */
const typedInfo = (name: string, elemType = FLOAT): ValueInfo =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType } } });

/** The whole graph with extra outputs (for measuring every tensor's shape, as inspect does). */
export function withOutputs(model: OnnxModel, names: ReadonlyArray<string>): OnnxModel {
  const graph = onnx.GraphProto.create({ ...model.graph, output: names.map((n) => typedInfo(n)) });
  return onnx.ModelProto.create({ ...model, graph });
}

/** A float32 tensor's declaration; a string dimension is symbolic (`"N"`, the batch). */
export const floatInfo = (name: string, dims: ReadonlyArray<number | string>): ValueInfo =>
  onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: {
          dim: dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: d }),
        },
      },
    },
  });

/**
 * Appends to `nodes` and `weights` (grood's ONNX exporters): `node` (named after its output,
 * which it returns), INT(S) attributes, and float32 initializers (`floats`, returning the name).
 */
export function graphWriter(
  nodes: Array<onnxProto.onnx.INodeProto>,
  weights: Array<onnxProto.onnx.ITensorProto>,
) {
  return {
    node: (
      op: string,
      inputs: ReadonlyArray<string>,
      output: string,
      attrs: ReadonlyArray<onnxProto.onnx.IAttributeProto> = [],
    ) => {
      nodes.push(
        onnx.NodeProto.create({
          opType: op,
          name: output,
          input: [...inputs],
          output: [output],
          attribute: [...attrs],
        }),
      );
      return output;
    },
    int: (name: string, i: number) =>
      onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
    ints: (name: string, values: ReadonlyArray<number>) =>
      onnx.AttributeProto.create({
        name,
        type: onnx.AttributeProto.AttributeType.INTS,
        ints: [...values],
      }),
    floats: (name: string, dims: ReadonlyArray<number>, values: ArrayLike<number>) => {
      weights.push(
        onnx.TensorProto.create({
          name,
          dims: [...dims],
          dataType: FLOAT,
          rawData: new Uint8Array(Float32Array.from(values).buffer),
        }),
      );
      return name;
    },
  };
}
