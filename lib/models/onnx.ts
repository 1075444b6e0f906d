/**
 * ONNX models on onnxruntime-node's CPU provider. Taps are tensor names; a forward between two
 * points runs the sub-graph cut at them (`onnx_graph.ts`), one session per cut, made on first use.
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
import { type OnnxOptions, onnxSession, runSession, sessionMemo } from "./onnx_session.ts";

/** Read and decode an ONNX file; a typed error names the file when it cannot. */
export const readOnnxFile = (path: string): Effect.Effect<OnnxModel, ModelUnreadable> =>
  Effect.flatMap(
    Effect.tryPromise({
      try: () => Deno.readFile(path),
      catch: (error) => new ModelUnreadable({ model: path, problem: describeError(error) }),
    }),
    (bytes) => decodeOnnx(path, bytes),
  );

/** The session of each cut of `model` from one tensor to others, opened on first use. */
export const cutSessions = (name: string, model: OnnxModel, options: OnnxOptions) =>
  Effect.map(Effect.scope, (scope) => {
    const sessions = sessionMemo<ModelError>();
    return (feed: string, outputs: ReadonlyArray<string>) => {
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

/** Open an ONNX model with its input spec and taps. */
export const openOnnxModel = (
  path: string,
  spec: { readonly input: InputSpec; readonly taps: Taps },
  options: OnnxOptions = {},
): Effect.Effect<FeatureModel, ModelError, Scope.Scope> =>
  Effect.flatMap(readOnnxFile(path), (model) => openOnnxGraph(path, model, spec, options));

/** Open a decoded ONNX graph (e.g. `classifierToOnnx`'s) as a `FeatureModel` named `path`. */
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
      const problem = `grood runs image classifiers with one input; this graph has ` +
        `${inputs.length} (${inputs.map((i) => i.name).join(", ")})`;
      return yield* new ModelUnreadable({ model: path, problem });
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
    const head = onnxHead(path, model, spec.taps);
    return yield* probedFeatureModel({
      name: path,
      kind: "onnx",
      spec,
      feedName: feedOf,
      run,
      head,
    });
  });
