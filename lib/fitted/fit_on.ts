/**
 * pytorch-ood's model-level entry: fit a detector on an opened model and data sources, in
 * memory, then score images from any source with it. What a fitted folder does
 * (`fitDetectorFolder`, `openFittedDetector`, `scoreSource`) without the folder: nothing is
 * written, the model stays the caller's, and any detector fits (a user's own, ODIN, …), not
 * only those a folder can save.
 *
 * It lives in `fitted/`, not `detectors/`, because it reads sources and runs the model's
 * extraction: layers above the detectors.
 *
 * @example Fit kNN on the fixture's digits and score a folder of images (needs the setup's data)
 * ```ts ignore
 * import { Effect } from "effect";
 * import { Detectors, Fitted, GroodLive, Models, Sources } from "../../mod.ts";
 * const program = Effect.gen(function* () {
 *   const model = yield* Models.openModel("models/foreign.onnx");
 *   const source = (argument: string) => Sources.parseSourceArgument(argument, ".", { labelled: true });
 *   const fitted = yield* Fitted.fitOn(yield* Detectors.buildDetector({ kind: "knn", k: 5 }), {
 *     model,
 *     train: yield* source("train.npy"),
 *     validation: yield* source("val.npy"),
 *   });
 *   return yield* fitted.scoreImages(yield* source("my-images/"));
 * });
 * const scores = await Effect.runPromise(
 *   Effect.scoped(program).pipe(Effect.provide(GroodLive())),
 * );
 * ```
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type {
  Detector,
  DetectorError,
  ExtractedSet,
  FittedDetector,
  TaggedFailure,
} from "../detectors/detector.ts";
import { sha256Hex } from "../io/files.ts";
import type { ModelError } from "../models/errors.ts";
import type { FeatureModel } from "../models/model.ts";
import type { SourceArgument } from "../sources/argument.ts";
import type { SourceError } from "../sources/source.ts";
import { extractWithModel } from "../stages/model_features.ts";
import type { FitDataInvalid } from "./errors.ts";
import { asSet, labelled, readArgument, toShape } from "./fit_data.ts";

/** What `fitOn` fits on: an opened model and the data sources. */
export interface FitOnData {
  /** The model (any kind `Models.openModel` opens); it stays open in the caller's scope. */
  readonly model: FeatureModel;
  /** Labelled ID training images. */
  readonly train: SourceArgument;
  /** Labelled held-out ID images (hyper-parameter choices, thresholds). */
  readonly validation: SourceArgument;
  /** Validation-OOD sources (only detectors that tune on them read them). */
  readonly validationOod?: ReadonlyArray<SourceArgument>;
  /**
   * The model's content key (`fitDetectorFolder` uses its files' hash), rooting the stage
   * cache's keys. Without one each fit gets a fresh key: nothing is shared through a
   * `StageCache` between fits, so nothing stale can be.
   */
  readonly modelKey?: string;
  readonly batchSize?: number;
  readonly progress?: (stage: string, done: number, total: number) => void;
}

/** A detector fitted by `fitOn`: its fit, and what scores images through the model. */
export interface FittedOn<E extends TaggedFailure = DetectorError> {
  readonly detector: Detector<E>;
  readonly fitted: FittedDetector<E>;
  /** The training, validation and validation-OOD sets with their features. */
  readonly sets: {
    readonly train: ExtractedSet;
    readonly validation: ExtractedSet;
    readonly validationOod: ReadonlyArray<ExtractedSet>;
  };
  /** One score per image of `source` (higher = more likely OOD), in the source's order. */
  readonly scoreImages: (
    source: SourceArgument,
  ) => Effect.Effect<Float64Array, E | ScoreImagesOnError, Compute>;
}

/** What reading and extracting a source may fail with. */
export type ScoreImagesOnError =
  | SourceError
  | FitDataInvalid
  | ModelError
  | Effect.Error<ReturnType<typeof extractWithModel>>;

/** What `fitOn` may fail with: its detector's errors, the data's and the model's. */
export type FitOnError<E> = E | ScoreImagesOnError;

/**
 * Fit `detector` on `data.model`'s features of the training and validation sources (each read
 * at the model's input size, extracted once), as pytorch-ood's `detector.fit(model, loader)`.
 * The fitted detector is disposed when the caller's scope closes.
 */
export const fitOn = <E extends TaggedFailure>(
  detector: Detector<E>,
  data: FitOnData,
): Effect.Effect<FittedOn<E>, FitOnError<E>, Compute | Scope.Scope> =>
  Effect.gen(function* () {
    const { model } = data;
    const shape = yield* toShape(model);
    const batch = data.batchSize === undefined ? {} : { batchSize: data.batchSize };
    const progress = data.progress ?? (() => {});
    const extracted = (set: Parameters<typeof extractWithModel>[1], sums: boolean) =>
      extractWithModel(model, set, {
        ...batch,
        earlyClassSums: sums,
        onProgress: (done, total) => progress(`features of ${set.name}`, done, total),
      });
    const trainRead = yield* readArgument(data.train, shape);
    const train = yield* labelled(trainRead, data.train.argument, shape, "training data");
    const validationRead = yield* readArgument(data.validation, shape);
    const validation = yield* labelled(
      validationRead,
      data.validation.argument,
      shape,
      "ID validation data",
    );
    const trainExtraction = yield* extracted(train, true);
    const validationSet: ExtractedSet = {
      images: validation,
      features: (yield* extracted(validation, false)).features,
    };
    const validationOod: Array<ExtractedSet> = [];
    for (const argument of data.validationOod ?? []) {
      const set = asSet(yield* readArgument(argument, shape), argument.argument, shape);
      validationOod.push({ images: set, features: (yield* extracted(set, false)).features });
    }
    const modelKey = data.modelKey ?? `fit-on:${crypto.randomUUID()}`;
    const fitted = yield* Effect.acquireRelease(
      detector.fit({
        modelKey,
        trainKey: sha256Hex(new TextEncoder().encode(`${modelKey}:${trainRead.checksum}`)),
        ...(model.network === undefined ? {} : { net: model.network }),
        model,
        train,
        trainFeatures: trainExtraction.features,
        trainClassSums: trainExtraction.classSums,
        validation: { id: validationSet, ood: validationOod },
        progress,
      }),
      (f) => Effect.sync(() => f.dispose()),
    );
    const scoreImages = (source: SourceArgument) =>
      Effect.gen(function* () {
        const set = asSet(yield* readArgument(source, shape), source.argument, shape);
        const { features } = yield* extracted(set, false);
        return yield* fitted.score({ images: set, features });
      });
    const result: FittedOn<E> = {
      detector,
      fitted,
      sets: {
        train: { images: train, features: trainExtraction.features },
        validation: validationSet,
        validationOod,
      },
      scoreImages,
    };
    return result;
  });
