/**
 * Hand-made inputs of the detector tests: sets whose features and logits are written out as
 * numbers, the `FitInputs` around them, a classifier that is only a dense head, and fit-then-score.
 *
 * @module
 */
import { IMAGE_SIZE, type ImageSet, type LabelledSet } from "../lib/data/images.ts";
import type {
  Detector,
  ExtractedSet,
  FitInputs,
  FittedDetector,
  ValidationData,
} from "../lib/detectors/detector.ts";
import { type Classifier, type ClassifierSpec, makeClassifier } from "../lib/model/classifier.ts";
import { matrix } from "../lib/matrix.ts";
import { runPromise, tf } from "./with_compute.ts";

/**
 * A set of blank images with the given penultimate features and logits (rows of numbers; an
 * empty list gives every image zero columns of that kind).
 */
export function handSet(
  name: string,
  penultimate: ReadonlyArray<ReadonlyArray<number>>,
  logits: ReadonlyArray<ReadonlyArray<number>>,
  labels?: ReadonlyArray<number>,
): ExtractedSet {
  const count = Math.max(penultimate.length, logits.length);
  const pen = penultimate.length === 0 ? Array.from({ length: count }, () => []) : penultimate;
  const log = logits.length === 0 ? Array.from({ length: count }, () => []) : logits;
  const images: ImageSet = { name, count, pixels: new Uint8Array(count * IMAGE_SIZE) };
  return {
    images,
    features: {
      name,
      count,
      penultimate: matrix(count, pen[0]!.length, pen.flat()),
      logits: matrix(count, log[0]!.length, log.flat()),
      ...(labels === undefined ? {} : { labels: Uint8Array.from(labels) }),
    },
  };
}

/** FitInputs around a training set (unlabelled rows get class 0) and validation data. */
export function fitInputs(
  train: ExtractedSet,
  validation: ValidationData = { id: train, ood: [] },
  net: Classifier = undefined as unknown as Classifier, // detectors that need no network
): FitInputs {
  const labels = train.features.labels ?? new Uint8Array(train.features.count);
  const labelled: LabelledSet = {
    ...train.images,
    labels,
    classNames: Array.from({ length: train.features.logits.cols }, (_, i) => `c${i}`),
  };
  return {
    modelKey: "test-model",
    trainKey: "test-train",
    net,
    train: labelled,
    trainFeatures: { ...train.features, labels },
    trainClassSums: [],
    validation,
  };
}

/**
 * A classifier that is only a head on D "pixels": input [1, 1, D] → pool (identity) → dense.
 * Head-based detectors read its `head/kernel` (D × C, rows = features) and `head/bias`.
 */
export function headOnlyNet(
  kernel: ReadonlyArray<ReadonlyArray<number>>,
  bias: ReadonlyArray<number>,
): Classifier {
  const spec: ClassifierSpec = {
    inputShape: [1, 1, kernel.length],
    blocks: [{ name: "pool", kind: "globalAvgPool" }, {
      name: "head",
      kind: "dense",
      units: bias.length,
    }],
  };
  return makeClassifier(
    tf,
    spec,
    new Map([
      ["head/kernel", Float32Array.from(kernel.flat())],
      ["head/bias", Float32Array.from(bias)],
    ]),
  );
}

/** Fit `detector` on `inputs` and score `set` with it. */
export const fitAndScore = async (
  detector: Detector,
  inputs: FitInputs,
  set: ExtractedSet,
): Promise<{ fitted: FittedDetector; scores: Float64Array }> => {
  const fitted = await runPromise(detector.fit(inputs));
  return { fitted, scores: await runPromise(fitted.score(set)) };
};
