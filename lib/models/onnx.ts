/**
 * ONNX models run by onnxruntime-node on its CPU execution provider. Taps are tensor names of
 * the graph; a forward pass between two points runs the sub-graph cut at those tensors
 * (`onnx_graph.ts`), one onnxruntime session per (from, to…) pair, made on first use and
 * released with the scope that opened the model.
 *
 * @module
 */
import { Effect, Scope } from "effect";
import { type ModelError, ModelUnreadable } from "./errors.ts";
import {
  checkDeclaredInput,
  describeError,
  type FeatureModel,
  type FeatureTensor,
  type ForwardPoint,
  type InputSpec,
  probedFeatureModel,
  type TapName,
  type Taps,
} from "./model.ts";
import {
  checkTensors,
  declaredShape,
  decodeOnnx,
  encodeOnnx,
  extractSubgraph,
  type OnnxModel,
  realInputs,
} from "./onnx_graph.ts";
import { onnxHead } from "./onnx_head.ts";
import {
  type OnnxOptions,
  type OnnxSession,
  onnxSession,
  runSession,
  sessionMemo,
} from "./onnx_session.ts";

/** Read and decode an ONNX file; a typed error names the file when it cannot. */
export const readOnnxFile = (path: string): Effect.Effect<OnnxModel, ModelUnreadable> =>
  Effect.flatMap(
    Effect.tryPromise({
      try: () => Deno.readFile(path),
      catch: (error) => new ModelUnreadable({ model: path, problem: describeError(error) }),
    }),
    (bytes) => decodeOnnx(path, bytes),
  );

/**
 * The sessions of `model`'s sub-graphs cut from one tensor to others (`extractSubgraph`), each
 * opened on its first use (one per cut, whatever order its outputs are asked in) and released
 * with the scope this is made in.
 */
export const cutSessions = (
  name: string,
  model: OnnxModel,
  options: OnnxOptions,
): Effect.Effect<
  (feed: string, outputs: ReadonlyArray<string>) => Effect.Effect<OnnxSession, ModelError>,
  never,
  Scope.Scope
> =>
  Effect.map(Effect.scope, (scope) => {
    const sessions = sessionMemo<ModelError>();
    return (feed, outputs) => {
      const cut = [...outputs].sort();
      return sessions(
        `${feed}->${cut.join(",")}`,
        Effect.flatMap(
          extractSubgraph(name, model, [feed], cut),
          (sub) =>
            Effect.provideService(onnxSession(name, encodeOnnx(sub), options), Scope.Scope, scope),
        ),
      );
    };
  });

/**
 * Open an ONNX model with its input spec and taps. Fails with `MissingTap` when a tap names no
 * tensor of the graph, `InputShapeMismatch` when the graph's declared input disagrees with the
 * spec, `ModelUnreadable` when the file is not a usable ONNX model. Shapes of the taps are
 * measured by one forward pass of a zero image.
 */
export const openOnnxModel = (
  path: string,
  spec: { readonly input: InputSpec; readonly taps: Taps },
  options: OnnxOptions = {},
): Effect.Effect<FeatureModel, ModelError, Scope.Scope> =>
  Effect.flatMap(readOnnxFile(path), (model) => openOnnxGraph(path, model, spec, options));

/**
 * Open a decoded ONNX graph (read from a file, or made in memory by `classifierToOnnx`) as a
 * `FeatureModel` named `path` (see `openOnnxModel`).
 */
export const openOnnxGraph = (
  path: string,
  model: OnnxModel,
  spec: { readonly input: InputSpec; readonly taps: Taps },
  options: OnnxOptions = {},
): Effect.Effect<FeatureModel, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* checkTensors(path, model, spec.taps);
    const inputs = realInputs(model.graph!);
    if (inputs.length !== 1) {
      return yield* new ModelUnreadable({
        model: path,
        problem: `grood runs image classifiers with one input; this graph has ${inputs.length} ` +
          `(${inputs.map((i) => i.name).join(", ")})`,
      });
    }
    const feedName = inputs[0]!.name ?? "";
    const declared = declaredShape(inputs[0]);
    if (declared !== undefined) yield* checkDeclaredInput(path, feedName, declared, spec.input);
    const feedOf = (from: ForwardPoint) => from === "input" ? feedName : spec.taps[from];
    const sessionFor = yield* cutSessions(path, model, options);
    const run = (x: FeatureTensor, from: ForwardPoint, to: ReadonlyArray<TapName>) =>
      Effect.gen(function* () {
        // A target equal to the start is the input itself; the engine runs the others.
        const feed = feedOf(from);
        const values = new Map<string, FeatureTensor>([[feed, x]]);
        const engineOutputs = [...new Set(to.map((t) => spec.taps[t]))].filter((t) => t !== feed);
        if (engineOutputs.length > 0) {
          const session = yield* sessionFor(feed, engineOutputs);
          const results = yield* runSession(session, feed, x, engineOutputs);
          engineOutputs.forEach((t, i) => values.set(t, results[i]!));
        }
        return to.map((t) => values.get(spec.taps[t])!);
      });
    return yield* probedFeatureModel({
      name: path,
      kind: "onnx",
      spec,
      feedName: feedOf,
      run,
      head: onnxHead(path, model, spec.taps),
    });
  });
