/**
 * pytorch-ood's model-level entry: fit any detector (a user's own, ODIN, …) on an opened model
 * and sources, in memory, then score images from any source: a fitted folder without the folder.
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
import type { ImageSet } from "../data/images.ts";
import { FitDataInvalid } from "./errors.ts";
import { asSet, labelled, readArgument, toShape } from "./fit_data.ts";

/** Images `fitOn` reads: a source (read at the model's input size), or a set at that size. */
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
  /** The model's content key, rooting the stage cache's keys (default: a fresh one per fit). */
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

/** `images` at `shape`, with what `labelled` reads (keeping a source's or a set's class names). */
const readImages = (
  images: FitOnImages,
  shape: ImageShape,
): Effect.Effect<
  {
    readonly set: ImageSet;
    readonly checksum: string;
    readonly read: Parameters<typeof labelled>[0];
  },
  SourceError | FitDataInvalid
> => {
  if (isSource(images)) {
    return Effect.map(readArgument(images, shape), (read) => ({
      set: asSet(read, images.argument, shape),
      checksum: read.checksum,
      read,
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
  return Effect.succeed({ set: images, checksum: sha256Hex(images.pixels), read: images });
};

const readLabelled = (images: FitOnImages, shape: ImageShape, role: string) =>
  Effect.flatMap(
    readImages(images, shape),
    ({ set, checksum, read }) =>
      Effect.map(labelled(read, set.name, shape, role), (set) => ({ set, checksum })),
  );

/** Fit `detector` on `data.model`'s features (pytorch-ood's `detector.fit(model, loader)`). */
export const fitOn = <E extends TaggedFailure>(
  detector: Detector<E>,
  data: FitOnData,
): Effect.Effect<FittedOn<E>, FitOnError<E>, Compute | Scope.Scope> =>
  Effect.gen(function* () {
    const { model } = data;
    const shape = yield* toShape(model);
    const batch = data.batchSize === undefined ? {} : { batchSize: data.batchSize };
    const extracted = (set: ImageSet, sums: boolean) =>
      extractFeatures(model, set, { ...batch, earlyClassSums: sums });
    const withFeatures = (set: ImageSet) =>
      Effect.map(
        extracted(set, false),
        (e): ExtractedSet => ({ images: set, features: e.features }),
      );
    const { set: train, checksum: trainChecksum } = yield* readLabelled(
      data.train,
      shape,
      "training data",
    );
    const { set: validation } = yield* readLabelled(data.validation, shape, "ID validation data");
    const trainExtraction = yield* extracted(train, true);
    const validationSet = yield* withFeatures(validation);
    const validationOod = yield* Effect.forEach(
      data.validationOod ?? [],
      (images) => Effect.flatMap(readImages(images, shape), ({ set }) => withFeatures(set)),
    );
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
    return {
      detector,
      fitted,
      sets: {
        train: { images: train, features: trainExtraction.features },
        validation: validationSet,
        validationOod,
      },
      scoreImages: (source: FitOnImages) =>
        Effect.flatMap(
          Effect.flatMap(readImages(source, shape), ({ set }) => withFeatures(set)),
          (set) => fitted.score(set),
        ),
    } satisfies FittedOn<E>;
  });
