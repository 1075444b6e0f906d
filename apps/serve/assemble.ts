/**
 * A served detector assembled in this process from grood's pieces: a grood classifier, a
 * detector fitted on its features, and held-out ID / validation-OOD images that fix the
 * threshold (the score keeping 95% of ID validation) and the histogram the page draws.
 *
 * `fitServedGrood` does the whole of it for a saved classifier and a dataset (a seeded subset of
 * the training split), so a notebook, a test or a benchmark can serve a detector it just fitted.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { Compute } from "../../mod.ts";
import {
  concatSets,
  type DatasetNotFound,
  type ImageSet,
  loadGeneratedSet,
  type LoadOodSetError,
  loadSplit,
  mulberry32,
  type OodSetName,
  subset,
} from "../../lib/data/mod.ts";
import {
  type DetectorError,
  type FitInputs,
  type FittedDetector,
  grood,
  type GroodOptions,
} from "../../lib/detectors/mod.ts";
import {
  type CorruptDataset,
  type DatasetFileMissing,
  type IoError,
  sha256Hex,
} from "../../lib/io/mod.ts";
import { type Classifier, loadClassifier, type ModelLoadError } from "../../lib/model/mod.ts";
import { groodFeatureModel } from "../../lib/models/mod.ts";
import { GREY_28 } from "../../lib/sources/mod.ts";
import {
  evaluateOod,
  type ExtractError,
  extractFeatures,
  predictedClasses,
  type ScoreError,
} from "../../lib/stages/mod.ts";
import { type ImageScores, scoreHistogram, type ServedDetector } from "./detector.ts";

/**
 * The threshold keeping 95% of ID: the smallest validation score `t` with at least 95% of the
 * ID validation scores `≤ t` (scores above it are flagged OOD).
 *
 * @example
 * ```ts
 * import { keep95Threshold } from "./assemble.ts";
 * // 19 of the 20 values 0..19 are ≤ 18.
 * if (keep95Threshold(Array.from({ length: 20 }, (_, i) => i)) !== 18) throw new Error("wrong");
 * ```
 */
export function keep95Threshold(idScores: ArrayLike<number>): number {
  const sorted = Float64Array.from(idScores).sort();
  return sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
}

/** What `serveFitted` needs: the network, the fitted detector and validation images. */
export interface ServeFittedOptions {
  /** grood's classifier the detector was fitted on. */
  readonly net: Classifier;
  /** The classifier's content key (architecture, weights, preprocessing). */
  readonly modelKey: string;
  /** The fitted detector. */
  readonly fitted: FittedDetector;
  /** Its registry kind (`grood`, `msp`…). */
  readonly kind: string;
  /** Held-out ID images (never trained on): fix the threshold. */
  readonly idValidation: ImageSet;
  /** Validation-OOD images: with the ID ones, the validation metrics and the histogram. */
  readonly oodValidation: ImageSet;
  /** Class names in label order, when known. */
  readonly classNames?: ReadonlyArray<string>;
}

/** How `serveFitted` can fail: the validation images' features or scores. */
export type ServeFittedError =
  | ExtractError
  | DetectorError
  | ScoreError;

/**
 * Serve a detector fitted in this process on grood's classifier (28×28 grey inputs): scores
 * the validation images once for the threshold, metrics and histogram. Requests are scored on
 * the context's `Compute`, read once here.
 */
export const serveFitted: (
  options: ServeFittedOptions,
) => Effect.Effect<ServedDetector, ServeFittedError, Compute> = Effect.fn("serveFitted")(function* (
  options: ServeFittedOptions,
) {
  const { net, fitted } = options;
  const compute = yield* Compute;
  const { tf } = compute;
  const model = yield* groodFeatureModel(tf, net, "the served classifier");
  const scoreSet = (set: ImageSet) =>
    Effect.gen(function* () {
      const { features } = yield* extractFeatures(model, set, { batchSize: 256 });
      const scores = yield* fitted.score({ images: set, features });
      return { scores, predicted: predictedClasses(features.logits) };
    }).pipe(Effect.provideService(Compute, compute));
  const id = yield* scoreSet(options.idValidation);
  const ood = yield* scoreSet(options.oodValidation);
  const threshold = keep95Threshold(id.scores);
  const metrics = yield* evaluateOod({ id: id.scores, ood: ood.scores });
  const idKept = id.scores.filter((s) => s <= threshold).length / id.scores.length;
  const oodCaught = ood.scores.filter((s) => s > threshold).length / ood.scores.length;
  const version = sha256Hex(
    new TextEncoder().encode(JSON.stringify({
      kind: options.kind,
      model: options.modelKey,
      settings: fitted.settings,
      artefacts: (fitted.artefacts ?? []).map((a) =>
        sha256Hex(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength))
      ),
      threshold,
    })),
  ).slice(0, 16);
  const served: ServedDetector = {
    info: {
      version,
      kind: options.kind,
      modelKey: options.modelKey,
      modelKind: "grood",
      threshold,
      ...(options.classNames === undefined ? {} : { classNames: options.classNames }),
      settings: fitted.settings,
      validation: {
        ...metrics,
        idValidationImages: options.idValidation.count,
        oodValidationImages: options.oodValidation.count,
        idKeptAtThreshold: idKept,
        oodCaughtAtThreshold: oodCaught,
      },
      histogram: scoreHistogram(id.scores, ood.scores),
    },
    input: GREY_28,
    scoreImages: (pixels, count) =>
      Effect.map(scoreSet({ name: "request", count, pixels }), ({ scores, predicted }) => {
        const result: ImageScores = {
          scores,
          predicted: Int32Array.from(predicted),
          isOod: Array.from(scores, (s) => s > threshold),
        };
        return result;
      }),
    tensors: () => tf.memory().numTensors,
  };
  return served;
});

/** Settings of `fitServedGrood`. */
export interface FitServedGroodOptions {
  /** A saved grood classifier (`fixtures/models/mnist`). */
  readonly classifierDir: string;
  /** The ID dataset the classifier was trained on (`mnist`). */
  readonly dataset: string;
  /** Training images GROOD fits on (a seeded subset of the training split). */
  readonly trainImages: number;
  /** Held-out ID images (from the test split) for the threshold. */
  readonly idValidationImages: number;
  /** Generated OOD sets for the validation metrics and histogram (default `letters-val`, `textures-val`). */
  readonly oodValidationSets?: ReadonlyArray<OodSetName>;
  /** Seed of the training and validation subsets (default 0). */
  readonly seed?: number;
  /** GROOD's options over its defaults. */
  readonly grood?: Partial<GroodOptions>;
}

/** How `fitServedGrood` can fail: loading the classifier or the data, fitting, scoring. */
export type FitServedGroodError =
  | ServeFittedError
  | ModelLoadError
  | CorruptDataset
  | DatasetFileMissing
  | DatasetNotFound
  | IoError
  | LoadOodSetError;

/**
 * Fit GROOD on a subset of a dataset's training split with a saved classifier and serve it.
 * The classifier and the detector are released when the scope closes.
 */
export const fitServedGrood: (
  options: FitServedGroodOptions,
) => Effect.Effect<ServedDetector, FitServedGroodError, Scope.Scope | Compute> = Effect.fn(
  "fitServedGrood",
)(
  function* (
    options: FitServedGroodOptions,
  ) {
    const { tf } = yield* Compute;
    const loaded = yield* Effect.acquireRelease(
      loadClassifier(tf, options.classifierDir),
      (l) => Effect.sync(() => l.net.dispose()),
    );
    const random = mulberry32(options.seed ?? 0);
    const pick = (total: number, count: number) => {
      const order = Array.from({ length: total }, (_, i) => i);
      for (let i = total - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      return order.slice(0, Math.min(count, total)).sort((a, b) => a - b);
    };
    const fullTrain = yield* loadSplit(options.dataset, "train");
    const train = subset(fullTrain, pick(fullTrain.count, options.trainImages), "train-subset");
    const test = yield* loadSplit(options.dataset, "test");
    const idValidation = subset(
      test,
      pick(test.count, options.idValidationImages),
      "id-validation",
    );
    const oodSets = yield* Effect.forEach(
      options.oodValidationSets ?? (["letters-val", "textures-val"] as const),
      (name) => loadGeneratedSet(name),
    );
    const oodValidation = concatSets(oodSets, "ood-validation");
    const detectorOptions = { ...options.grood };
    const detector = grood(detectorOptions);
    const early = detectorOptions.earlyBoundary ?? "block1";
    const model = yield* groodFeatureModel(tf, loaded.net, options.classifierDir);
    const extraction = yield* extractFeatures(model, train, { classSumsAt: [early] });
    const idFeatures = (yield* extractFeatures(model, idValidation)).features;
    const inputs: FitInputs = {
      model,
      train: {
        images: train,
        features: extraction.features,
        classSums: extraction.classSums,
        key: `${loaded.key}:${options.dataset}:${options.trainImages}:${options.seed ?? 0}`,
      },
      validation: { id: { images: idValidation, features: idFeatures }, ood: [] },
    };
    const fitted = yield* Effect.acquireRelease(
      detector.fit(inputs),
      (f) => Effect.sync(() => f.dispose()),
    );
    return yield* serveFitted({
      net: loaded.net,
      modelKey: loaded.key,
      fitted,
      kind: "grood",
      idValidation,
      oodValidation,
      classNames: train.classNames,
    });
  },
);
