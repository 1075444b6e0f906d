/**
 * The model and training data of a fit: the model opened with the user's taps, its forward
 * passes memoised by set (shared by the fits of one multi-detector `deno task fit`), and both
 * opened again outside the fit's process (a cluster runner, `grood cluster fit`), checked
 * against the model's hash and the source's count the fit saw.
 *
 * @module
 */
import { Data, Effect, type Scope } from "effect";
import { canonicalJson } from "../cache/cache.ts";
import type { Compute } from "../compute/compute.ts";
import type { ImageSet } from "../data/images.ts";
import type { ExtractedSet } from "../detectors/detector.ts";
import type { IoError } from "../io/files.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { ModelError } from "../models/errors.ts";
import type { FeatureModel, Taps } from "../models/model.ts";
import { type ModelKind, openModel, resolveModel } from "../models/registry.ts";
import type { SourceArgument } from "../sources/argument.ts";
import type { OpenedSource, SourceError } from "../sources/source.ts";
import { FIT_CHUNK } from "../stages/class_sums.ts";
import { type ExtractError, extractFeatures, type Extraction } from "../stages/features.ts";
import type { FitDataInvalid } from "./errors.ts";
import { inClassOrder, openArgument, toShape } from "./fit_data.ts";
import type { FitOptions, StreamedTraining } from "./fit_options.ts";
import { copyModel } from "./fit_write.ts";

/** The model opened with the taps the user gave (the spec's otherwise). */
export const openWithTaps = (path: string, taps: Partial<Taps> | undefined) =>
  Effect.gen(function* () {
    const model = yield* openModel(path);
    const { entry, spec: declared } = yield* resolveModel(path);
    const classes = declared?.classes;
    if (taps === undefined || Object.keys(taps).length === 0) {
      return { model, kind: entry.kind, classes };
    }
    const spec = { kind: entry.kind, input: model.input, taps: { ...model.taps, ...taps } };
    return { model: yield* openModel(path, { spec }), kind: entry.kind, classes };
  });

/** Extractions memoised in `options.features`: `extract(set, sums)`, `extracted(set)` (no sums). */
export const memoisedExtraction = (
  model: FeatureModel,
  options: FitOptions,
  batch: { readonly batchSize?: number },
) => {
  const sumChunk = options.fitChunk ?? FIT_CHUNK;
  const extract = (set: ImageSet, sums: boolean): Effect.Effect<Extraction, ExtractError> => {
    const key = canonicalJson({
      model: options.model,
      taps: model.taps,
      batch,
      set: set.name,
      count: set.count,
      sums,
      sumChunk,
    });
    const known = options.features?.get(key);
    return known !== undefined ? Effect.succeed(known) : Effect.tap(
      extractFeatures(model, set, { ...batch, earlyClassSums: sums, sumChunk }),
      (extraction) => Effect.sync(() => options.features?.set(key, extraction)),
    );
  };
  const extracted = (set: ImageSet) =>
    Effect.map(extract(set, false), (e): ExtractedSet => ({ images: set, features: e.features }));
  return { extract, extracted };
};

/** What names a fit's training data: enough to read any chunk of it anywhere. */
export interface FitTrainingRef
  extends Pick<StreamedTraining, "classNames" | "sourceCount" | "modelSha256"> {
  /** The model's path. */
  readonly model: string;
  /** The taps the fit used. */
  readonly taps: Partial<Taps>;
  /** The training source, as the fit's command line named it. */
  readonly train: SourceArgument;
  /** Source indices held out as ID validation, ascending. */
  readonly held: ReadonlyArray<number>;
}

/** The training data of a fit cannot be read as the fit read it. */
export class FitTrainingChanged extends Data.TaggedError("FitTrainingChanged")<{
  readonly what: string;
  readonly problem: string;
}> {
  /** Names what changed and how. */
  override get message(): string {
    return `Cannot read the fit's training data (${this.what}): ${this.problem}`;
  }
}

/** The model of `ref`, checked against its content hash. */
export const openFitModel = (ref: FitTrainingRef): Effect.Effect<
  {
    readonly model: FeatureModel;
    readonly kind: ModelKind;
    readonly classes: ReadonlyArray<string> | undefined;
  },
  ModelError | IoError | PathOutsideBase | LinkLeavesRoot | FitTrainingChanged,
  Compute | Scope.Scope
> =>
  Effect.gen(function* () {
    const hashed = yield* copyModel(ref.model, undefined, "model");
    if (hashed.sha256 !== ref.modelSha256) {
      return yield* new FitTrainingChanged({
        what: ref.model,
        problem: `the model's content hash is ${hashed.sha256}; the fit began with ` +
          ref.modelSha256,
      });
    }
    return yield* openWithTaps(ref.model, ref.taps);
  });

/** The training source of `ref` at `model`'s input, labels in the fit's class order. */
export const openFitTraining = (
  ref: FitTrainingRef,
  model: { readonly model: FeatureModel; readonly classes: ReadonlyArray<string> | undefined },
): Effect.Effect<OpenedSource, SourceError | FitDataInvalid | FitTrainingChanged> =>
  Effect.gen(function* () {
    const shape = yield* toShape(model.model);
    const opened = yield* openArgument(ref.train, shape, model.classes);
    if (opened.count !== ref.sourceCount) {
      return yield* new FitTrainingChanged({
        what: ref.train.argument,
        problem: `it holds ${opened.count} images; the fit began with ${ref.sourceCount}`,
      });
    }
    return yield* inClassOrder(ref.train, opened, ref.classNames);
  });
