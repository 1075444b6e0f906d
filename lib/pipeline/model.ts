/**
 * The model a benchmark runs, as the pipeline needs it: any kind `lib/models` opens (grood's
 * CNN, ONNX, tfjs Layers or Graph), opened by the one `openModel` behind the `FeatureModel`
 * interface, the engine that extracts its features, and the cache key of everything those
 * features depend on (the model's files, kind, taps, input preprocessing and engine).
 *
 * Engines: an ONNX model runs on onnxruntime, a tfjs model on tfjs. grood's own CNN runs on
 * onnxruntime by default (exported by `classifierToOnnx`, checked against tfjs and cached by
 * content key: `lib/models/grood_onnx.ts`), or on tfjs (`engine: "tfjs"`); its tfjs network
 * stays loaded (`features.network`) for what needs autograd (ODIN) and for GROOD's mix-up (a
 * forward from the early tap).
 *
 * grood's CNN sums class features at every convolutional boundary in one pass, on either
 * engine (any early layer can then be ablated); other kinds sum them at the early tap only.
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
  /**
   * One forward pass over a set: penultimate features, logits, class sums (each batch reported
   * to the context's `Progress`).
   */
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

/** The one feature pass (`extractFeatures`) over `model`, with the pipeline's options. */
const withSums = (model: FeatureModel) => (set: ImageSet, options: ModelExtractOptions = {}) =>
  extractFeatures(model, set, {
    ...(options.classSumsAt === undefined ? {} : { classSumsAt: options.classSumsAt }),
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });

/**
 * grood's CNN on tfjs (`groodFeatureModel`, class sums at any block boundary, in one pass)
 * under `key`: its passes run on the context's `Compute`, read once here.
 */
export const tfjsExtractor = (
  net: Classifier,
  key: string,
): Effect.Effect<Pick<PipelineModel, "key" | "extract">, MissingTap, Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const model = yield* groodFeatureModel(tf, net, "grood's classifier");
    return { key, extract: withSums(model) };
  });

/**
 * Open the model at `options.path` for the pipeline, in the caller's scope. Fails with
 * `EngineUnavailable` when the engine cannot run the kind, and with the model's own typed
 * errors (a missing tap, a spec that does not fit, an unreadable file).
 */
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
    // grood's CNN sums class features at every convolutional block in the one pass, so any
    // early layer can be ablated without another; other kinds at the early tap.
    const points = (features.points ?? []).map((p) => p.name);
    const model: PipelineModel = {
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
    };
    return model;
  });
