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
import type { ImageShape, SourceError } from "../sources/source.ts";
import { extractFeatures } from "../stages/features.ts";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import { FitDataInvalid } from "./errors.ts";
import { asSet, labelled, readArgument, toShape } from "./fit_data.ts";

/**
 * Images `fitOn` reads: a source (`Sources.parseSourceArgument`: a folder, `.npy`, IDX,
 * `dataset:mnist:train`, …), read at the model's input size, or an image set already in
 * memory, at that size.
 */
export type FitOnImages = SourceArgument | ImageSet;

/** What `fitOn` fits on: an opened model and the data (sources or image sets). */
export interface FitOnData {
  /** The model (any kind `Models.openModel` opens); it stays open in the caller's scope. */
  readonly model: FeatureModel;
  /** Labelled ID training images. */
  readonly train: FitOnImages;
  /** Labelled held-out ID images (hyper-parameter choices, thresholds). */
  readonly validation: FitOnImages;
  /** Validation-OOD images (only detectors that tune on them read them). */
  readonly validationOod?: ReadonlyArray<FitOnImages>;
  /**
   * The model's content key (`fitDetectorFolder` uses its files' hash), rooting the stage
   * cache's keys. Without one each fit gets a fresh key: nothing is shared through a
   * `StageCache` between fits, so nothing stale can be.
   */
  readonly modelKey?: string;
  /** Images per forward pass of the feature extraction (default 500). */
  readonly batchSize?: number;
}

/** A detector fitted by `fitOn`: its fit, and what scores images through the model. */
export interface FittedOn<E extends TaggedFailure = DetectorError> {
  /** The detector as built from its spec. */
  readonly detector: Detector<E>;
  /** Its fit: scores sets of extracted features. */
  readonly fitted: FittedDetector<E>;
  /** The training, validation and validation-OOD sets with their features. */
  readonly sets: {
    readonly train: ExtractedSet;
    readonly validation: ExtractedSet;
    readonly validationOod: ReadonlyArray<ExtractedSet>;
  };
  /** One score per image of `source` (higher = more likely OOD), in the source's order. */
  readonly scoreImages: (
    source: FitOnImages,
  ) => Effect.Effect<Float64Array, E | ScoreImagesOnError, Compute>;
}

/** What reading and extracting a source may fail with. */
export type ScoreImagesOnError =
  | SourceError
  | FitDataInvalid
  | ModelError
  | Effect.Error<ReturnType<typeof extractFeatures>>;

/** What `fitOn` may fail with: its detector's errors, the data's and the model's. */
export type FitOnError<E> = E | ScoreImagesOnError;

const isSource = (images: FitOnImages): images is SourceArgument => "argument" in images;

/** `images` as a set at `shape`: a source read, a set checked to be at that size. */
const readImages = (
  images: FitOnImages,
  shape: ImageShape,
): Effect.Effect<
  { readonly set: ImageSet; readonly checksum: string },
  SourceError | FitDataInvalid
> => {
  if (isSource(images)) {
    return Effect.map(readArgument(images, shape), (read) => ({
      set: asSet(read, images.argument, shape),
      checksum: read.checksum,
    }));
  }
  const own = images.shape ?? { height: 28, width: 28, channels: 1 };
  if (own.height !== shape.height || own.width !== shape.width || own.channels !== shape.channels) {
    return Effect.fail(
      new FitDataInvalid({
        source: images.name,
        problem: `its images are ${own.height}×${own.width}×${own.channels}; the model takes ` +
          `${shape.height}×${shape.width}×${shape.channels} (give a source to have them resized)`,
      }),
    );
  }
  return Effect.succeed({ set: images, checksum: sha256Hex(images.pixels) });
};

/** `images` as a labelled set (for `role`), from a source or a labelled image set. */
const readLabelled = (
  images: FitOnImages,
  shape: ImageShape,
  role: string,
): Effect.Effect<
  { readonly set: LabelledSet; readonly checksum: string },
  SourceError | FitDataInvalid
> =>
  isSource(images)
    ? Effect.flatMap(readArgument(images, shape), (read) =>
      Effect.map(
        labelled(read, images.argument, shape, role),
        (set) => ({ set, checksum: read.checksum }),
      ))
    // A `LabelledSet`'s class names are kept (`labelled` reads them); others are numbered.
    : Effect.flatMap(readImages(images, shape), ({ set, checksum }) =>
      Effect.map(labelled(set, set.name, shape, role), (set) => ({ set, checksum })));

/**
 * Fit `detector` on `data.model`'s features of the training and validation sources (each read
 * at the model's input size, extracted once), as pytorch-ood's `detector.fit(model, loader)`.
 * The fitted detector is disposed when the caller's scope closes; the passes report to the
 * context's `Progress`.
 */
export const fitOn = <E extends TaggedFailure>(
  detector: Detector<E>,
  data: FitOnData,
): Effect.Effect<FittedOn<E>, FitOnError<E>, Compute | Scope.Scope> =>
  Effect.gen(function* () {
    const { model } = data;
    const shape = yield* toShape(model);
    const batch = data.batchSize === undefined ? {} : { batchSize: data.batchSize };
    const extracted = (set: Parameters<typeof extractFeatures>[1], sums: boolean) =>
      extractFeatures(model, set, { ...batch, earlyClassSums: sums });
    const { set: train, checksum: trainChecksum } = yield* readLabelled(
      data.train,
      shape,
      "training data",
    );
    const { set: validation } = yield* readLabelled(data.validation, shape, "ID validation data");
    const trainExtraction = yield* extracted(train, true);
    const validationSet: ExtractedSet = {
      images: validation,
      features: (yield* extracted(validation, false)).features,
    };
    const validationOod: Array<ExtractedSet> = [];
    for (const images of data.validationOod ?? []) {
      const { set } = yield* readImages(images, shape);
      validationOod.push({ images: set, features: (yield* extracted(set, false)).features });
    }
    const modelKey = data.modelKey ?? `fit-on:${crypto.randomUUID()}`;
    const fitted = yield* Effect.acquireRelease(
      detector.fit({
        model,
        train: {
          images: train,
          ...trainExtraction,
          key: sha256Hex(new TextEncoder().encode(`${modelKey}:${trainChecksum}`)),
        },
        validation: { id: validationSet, ood: validationOod },
      }),
      (f) => Effect.sync(() => f.dispose()),
    );
    const scoreImages = (source: FitOnImages) =>
      Effect.gen(function* () {
        const { set } = yield* readImages(source, shape);
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
