/**
 * The model a benchmark runs, as the pipeline needs it: any kind `lib/models` opens, behind the
 * `FeatureModel` interface, with the engine that extracts its features (onnx or tfjs) and the
 * cache key of everything those features depend on. Engines: docs/internals/pipeline.md.
 *
 * @module
 */
import { Data, Effect, Schema, type Scope } from "effect";
import { hashJson } from "../cache/key.ts";
import { Compute } from "../compute/compute.ts";
import type { ImageSet } from "../data/images.ts";
import type { Classifier } from "../model/classifier.ts";
import type { ClassifierMetadata } from "../model/store.ts";
import { hashModel } from "../models/files.ts";
import { groodFeatureModel } from "../models/grood_cnn.ts";
import type { FeatureModel, Taps } from "../models/model.ts";
import { MODEL_REGISTRY, type ModelKind, openModel } from "../models/registry.ts";
import { type MissingTap, ModelUnreadable } from "../models/errors.ts";
import { type ExtractError, extractFeatures, type Extraction } from "../stages/features.ts";

/** The engines a pipeline can extract features with. */
export const ENGINES = ["tfjs", "onnx"] as const;
/** An engine name. */
export type Engine = typeof ENGINES[number];
/** The engine choice in a pipeline or ablation spec. */
export const EngineSchema: Schema.Literals<typeof ENGINES> = Schema.Literals(ENGINES);

/** The engine asked for cannot run this kind of model. */
export class EngineUnavailable extends Data.TaggedError("EngineUnavailable")<{
  readonly model: string;
  readonly kind: string;
  readonly engine: string;
}> {
  /** Names the model, its kind and the engine, with which engines run what. */
  override get message(): string {
    return `Model "${this.model}" is of kind "${this.kind}", which the ${this.engine} engine ` +
      `cannot run (grood's CNN runs on onnx or tfjs; an ONNX model on onnx; a tfjs model on tfjs)`;
  }
}

/** What extracting one set may fail with. */
export type ExtractionError = ExtractError;

/** Options of one extraction. */
export interface ModelExtractOptions {
  /** Boundaries at which to sum features per class (each one of `earlyBoundaries`). */
  readonly classSumsAt?: ReadonlyArray<string>;
  /** Images per forward batch (default 500). */
  readonly batchSize?: number;
}

/** A model opened for the pipeline (its engine resources belong to the opening scope). */
export interface PipelineModel {
  /** The model's path (named by errors and reports). */
  readonly path: string;
  /** Its kind in `MODEL_REGISTRY` (`grood`, `onnx`, `tfjs-layers`, `tfjs-graph`). */
  readonly kind: ModelKind;
  /** The engine its features are extracted with. */
  readonly engine: Engine;
  /** The model behind one interface: what features are extracted with, and GROOD's mix-up. */
  readonly features: FeatureModel;
  /** grood's own training metadata (accuracy, seed), when the model is one. */
  readonly metadata?: ClassifierMetadata;
  /** Cache key: the model's bytes, kind, taps, input preprocessing and engine. */
  readonly key: string;
  /** Where per-class feature sums (GROOD's early prototypes) can be taken. */
  readonly earlyBoundaries: ReadonlyArray<string>;
  /** The early boundary GROOD uses when its spec names none (the model's early tap). */
  readonly earlyTap: string;
  /** One forward pass over a set: penultimate features, logits, class sums. */
  readonly extract: (
    set: ImageSet,
    options?: ModelExtractOptions,
  ) => Effect.Effect<Extraction, ExtractionError>;
}

/** What `openPipelineModel` opens. */
export interface PipelineModelOptions {
  /** The model's path (a file or folder `openModel` opens). */
  readonly path: string;
  /** A kind of `MODEL_REGISTRY` (a benchmark file's `model.kind`). */
  readonly kind: string;
  /** Taps that replace the model's own (the benchmark file's `model.taps`). */
  readonly taps?: { readonly [T in keyof Taps]?: string | undefined };
  /** Default: onnx for grood's CNN and an ONNX model, tfjs for a tfjs model. */
  readonly engine?: Engine;
}

const defined = (taps: PipelineModelOptions["taps"]): Partial<Taps> =>
  Object.fromEntries(Object.entries(taps ?? {}).filter(([, v]) => v !== undefined));

/** The one feature pass (`extractFeatures`) over `model`. */
const withSums = (model: FeatureModel) => (set: ImageSet, options: ModelExtractOptions = {}) =>
  extractFeatures(model, set, options);

/** grood's CNN on tfjs (`groodFeatureModel`) under `key`, on the context's `Compute`. */
export const tfjsExtractor = (
  net: Classifier,
  key: string,
): Effect.Effect<Pick<PipelineModel, "key" | "extract">, MissingTap, Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const model = yield* groodFeatureModel(tf, net, "grood's classifier");
    return { key, extract: withSums(model) };
  });

/** Open the model at `options.path` for the pipeline, in the caller's scope. */
export const openPipelineModel = (
  options: PipelineModelOptions,
): Effect.Effect<
  PipelineModel,
  | EngineUnavailable
  | Effect.Error<ReturnType<typeof openModel>>
  | ModelUnreadable
  | Effect.Error<ReturnType<typeof hashModel>>,
  Scope.Scope | Compute
> =>
  Effect.gen(function* () {
    const { path } = options;
    const entry = MODEL_REGISTRY.find((k) => k.kind === options.kind);
    if (entry === undefined) {
      return yield* new ModelUnreadable({
        model: path,
        problem: `its kind "${options.kind}" is none grood knows (kinds: ${
          MODEL_REGISTRY.map((k) => k.kind).join(", ")
        })`,
      });
    }
    const kind = entry.kind;
    const native: Engine = kind === "tfjs-layers" || kind === "tfjs-graph" ? "tfjs" : "onnx";
    const engine = options.engine ?? native;
    if (kind !== "grood" && engine !== native) {
      return yield* new EngineUnavailable({ model: path, kind, engine });
    }
    const features = yield* openModel(path, {
      taps: defined(options.taps),
      ...(kind === "grood" ? { groodEngine: engine } : {}),
    });
    if (features.kind !== kind) {
      return yield* new ModelUnreadable({
        model: path,
        problem: `it is a ${features.kind} model, not the ${kind} model it is named as`,
      });
    }
    const hashed = yield* hashModel(path);
    const points = (features.points ?? []).map((p) => p.name);
    return {
      path,
      kind,
      engine,
      features,
      ...(features.metadata === undefined ? {} : { metadata: features.metadata }),
      key: hashJson({
        model: hashed.sha256,
        kind,
        taps: features.taps,
        input: features.input,
        engine,
      }),
      earlyBoundaries: points.length > 0 ? points : [features.taps.early],
      earlyTap: features.taps.early,
      extract: withSums(features),
    } satisfies PipelineModel;
  });
