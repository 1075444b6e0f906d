/**
 * Open a saved grood classifier folder on onnxruntime (`grood_onnx.ts`) or tfjs
 * (`grood_cnn.ts`). The tfjs network is loaded either way (the head, tap-to-tap forwards and
 * checks run on it) and freed with the scope.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { Compute } from "../compute/compute.ts";
import { loadClassifier } from "../model/store.ts";
import { type ModelError, ModelUnreadable } from "./errors.ts";
import { groodFeatureModel, groodTaps } from "./grood_cnn.ts";
import { groodOnnxModel } from "./grood_onnx.ts";
import type { FeatureModel, Taps } from "./model.ts";
import type { OnnxOptions } from "./onnx_session.ts";

/** An engine grood's CNN runs on (the choice in a spec is `Pipeline.EngineSchema`). */
export type GroodEngine = "onnx" | "tfjs";
/** The engine grood's CNN runs on when nothing says otherwise. */
export const DEFAULT_GROOD_ENGINE: GroodEngine = "onnx";

/** Load grood's classifier in `dir` (weights checked), freed when the scope closes. */
export const loadGroodNet = (dir: string) =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    return yield* Effect.acquireRelease(
      Effect.mapError(
        loadClassifier(tf, dir),
        (error) => new ModelUnreadable({ model: dir, problem: error.problem }),
      ),
      (l) => Effect.sync(() => l.net.dispose()),
    );
  });

/** Open a saved grood classifier folder on `engine`; `taps` replace its default taps. */
export const openGroodModel = (
  dir: string,
  taps: Partial<Taps> = {},
  engine: GroodEngine = DEFAULT_GROOD_ENGINE,
  options: OnnxOptions = {},
): Effect.Effect<FeatureModel, ModelError, Scope.Scope | Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const { net, path, key, metadata } = yield* loadGroodNet(dir);
    const all = { ...groodTaps(net), ...taps };
    const model = yield* (engine === "onnx"
      ? groodOnnxModel(tf, net, path, key, all, options)
      : groodFeatureModel(tf, net, path, all));
    return { ...model, metadata };
  });
