/**
 * tfjs models saved as `model.json` + weight files: LayersModel (taps are layer names) and
 * GraphModel (node names), read from disk (tfjs's `file://` loader needs tfjs-node). From a
 * tap, a GraphModel executes from the fed node; a LayersModel re-applies the layers after it
 * in topological order (so branches and merges work). Only a LayersModel has an input gradient.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect, type Scope } from "effect";
import { dirname } from "node:path";
import { resolveInside } from "../io/paths.ts";
import { Compute } from "../compute/compute.ts";
import { type ModelError, ModelRunFailed, ModelUnreadable, TapDoesNotCut } from "./errors.ts";
import {
  checkDeclaredInput,
  describeError,
  type FeatureModel,
  type FeatureTensor,
  type ForwardPoint,
  type InputSpec,
  probedFeatureModel,
  requireTensors,
  type TapName,
  type Taps,
} from "./model.ts";
import { tfjsInputGradient } from "./input_gradient.ts";
import { graphHead, type GraphNode, layersHead } from "./tfjs_head.ts";

type Tf = typeof tfType;

/** A tfjs IO handler reading `model.json` and its weight files from disk. */
function fileHandler(tf: Tf, path: string): tfType.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await Deno.readTextFile(path)) as tfType.io.ModelJSON;
      return await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers: Array<ArrayBuffer> = [];
        for (const [g, group] of manifest.entries()) {
          for (const [i, file] of group.paths.entries()) {
            // A weight path stays inside the model's folder (never `../../x/weights.bin`).
            const where = `${path} at weightsManifest[${g}].paths[${i}]`;
            const at = await resolveInside(dirname(path), file, where);
            buffers.push((await Deno.readFile(at)).slice().buffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/** What a tfjs model is: a Layers or a Graph model. */
export type TfjsFormat = "layers" | "graph";

/** Run `f` in a tidy scope and copy the results out as plain arrays. */
const readOut = (tf: Tf, f: () => ReadonlyArray<tfType.Tensor>): ReadonlyArray<FeatureTensor> => {
  const out: Array<FeatureTensor> = [];
  tf.tidy(() => {
    for (const t of f()) out.push({ data: t.dataSync() as Float32Array, shape: t.shape });
  });
  return out;
};

/** Forward functions of a LayersModel: whole-model sub-models, and layer re-application. */
function layersForward(tf: Tf, model: tfType.LayersModel, name: string) {
  const subModels = new Map<string, tfType.LayersModel>();
  const subModel = (layers: ReadonlyArray<string>) => {
    const key = layers.join(",");
    if (!subModels.has(key)) {
      const outputs = layers.map((l) => model.getLayer(l).output as tfType.SymbolicTensor);
      subModels.set(key, tf.model({ inputs: model.inputs, outputs }));
    }
    return subModels.get(key)!;
  };
  const fromInput = (x: tfType.Tensor, layers: ReadonlyArray<string>) => {
    const result = subModel(layers).predict(x);
    return Array.isArray(result) ? result : [result as tfType.Tensor];
  };
  // Differentiable (applied symbolically, inference mode), for the input gradient.
  const applyTo = (x: tfType.Tensor, layer: string) =>
    subModel([layer]).apply(x, { training: false }) as tfType.Tensor;
  const fromLayer = (x: tfType.Tensor, start: string, layers: ReadonlyArray<string>) => {
    const values = new Map<string, tfType.Tensor>([[start, x]]);
    for (const layer of model.layers) {
      if (values.has(layer.name) || layer.inboundNodes.length === 0) continue;
      const inbound = layer.inboundNodes[0]!.inboundLayers;
      if (inbound.length === 0) continue;
      const inputs = inbound.map((l) => values.get(l.name));
      if (inputs.some((v) => v === undefined)) continue;
      const out = layer.apply(inputs.length === 1 ? inputs[0]! : inputs as Array<tfType.Tensor>);
      values.set(layer.name, out as tfType.Tensor);
    }
    const tensor = model.inputNames[0] ?? "input";
    return layers.map((to) => {
      const v = values.get(to);
      if (v === undefined) throw new TapDoesNotCut({ model: name, from: start, to, tensor });
      return v;
    });
  };
  return { fromInput, fromLayer, applyTo };
}

/** Load the tfjs model at `path`, freed with the scope, with the names taps may give. */
export const loadTfjsModel = (tf: Tf, path: string, format: TfjsFormat) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const handler = fileHandler(tf, path);
        if (format === "layers") {
          const model = await tf.loadLayersModel(handler);
          return { kind: "layers" as const, model, names: model.layers.map((l) => l.name) };
        }
        const model = await tf.loadGraphModel(handler);
        // The node names are the GraphDef's, in model.json (tfjs keeps its graph private).
        const json = JSON.parse(await Deno.readTextFile(path)) as {
          modelTopology?: { node?: ReadonlyArray<GraphNode> };
        };
        const nodes = json.modelTopology?.node ?? [];
        return { kind: "graph" as const, model, names: nodes.map((n) => n.name), nodes };
      },
      catch: (error) => new ModelUnreadable({ model: path, problem: describeError(error) }),
    }),
    (e) => Effect.sync(() => e.model.dispose()),
  );

/** Open a tfjs model (`model.json`) with its input spec and taps. */
export const openTfjsModel = (
  path: string,
  format: TfjsFormat,
  spec: { readonly input: InputSpec; readonly taps: Taps },
): Effect.Effect<FeatureModel, ModelError, Scope.Scope | Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const engine = yield* loadTfjsModel(tf, path, format);
    yield* requireTensors(path, spec.taps, engine.names);
    const inputName = engine.kind === "layers"
      ? engine.model.inputNames[0]!
      : engine.model.inputs[0]!.name;
    const feedOf = (from: ForwardPoint) => from === "input" ? inputName : spec.taps[from];
    const layers = engine.kind === "layers" ? layersForward(tf, engine.model, path) : undefined;
    const run = (x: FeatureTensor, from: ForwardPoint, to: ReadonlyArray<TapName>) =>
      Effect.try({
        try: () =>
          readOut(tf, () => {
            const input = tf.tensor(x.data, [...x.shape]);
            const targets = to.map((t) => spec.taps[t]);
            if (layers !== undefined) {
              return from === "input"
                ? layers.fromInput(input, targets)
                : layers.fromLayer(input, spec.taps[from], targets);
            }
            const graph = engine.model as tfType.GraphModel;
            const result = graph.execute({ [feedOf(from)]: input }, targets);
            return Array.isArray(result) ? result : [result];
          }),
        catch: (error): ModelError =>
          error instanceof TapDoesNotCut
            ? error
            : /Cannot compute the outputs/.test(describeError(error))
            ? new TapDoesNotCut({ model: path, from, to: to.join(", "), tensor: inputName })
            : new ModelRunFailed({ model: path, problem: describeError(error) }),
      });
    if (engine.kind === "layers") {
      const declared = engine.model.inputs[0]!.shape.map((d, i) => i === 0 || d === null ? -1 : d);
      yield* checkDeclaredInput(path, inputName, declared, spec.input);
    }
    return yield* probedFeatureModel({
      name: path,
      kind: engine.kind === "layers" ? "tfjs-layers" : "tfjs-graph",
      spec,
      feedName: feedOf,
      run,
      head: engine.kind === "layers"
        ? layersHead(path, engine.model, spec.taps)
        : graphHead(path, engine.model, engine.nodes, spec.taps),
      // A GraphModel's ops are not all differentiable in tfjs: no input gradient there.
      ...(layers && {
        inputGradient: tfjsInputGradient(tf, path, (x) => layers.applyTo(x, spec.taps.logits)),
      }),
    });
  });
