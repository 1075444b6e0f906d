/**
 * Hand-made inputs of the detector tests: sets whose features and logits are written out as
 * numbers, the `FitInputs` around them, a model that is only a dense head, and fit-then-score.
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
import { Effect } from "effect";
import { matrix } from "../lib/matrix.ts";
import { type Head, headFrom } from "../lib/models/head.ts";
import type { FeatureModel } from "../lib/models/model.ts";
import { runPromise } from "./with_compute.ts";

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

/**
 * A model known only by its tap sizes (D penultimate features, C logits), optionally with a
 * classifier head: the features of the hand sets are given, so it is never run.
 */
export function standInModel(
  penultimate: number,
  classes: number,
  head?: Head,
): FeatureModel {
  return {
    name: head === undefined ? "stand-in model" : "head-only model",
    kind: "stand-in",
    input: { height: 1, width: 1, channels: 1, layout: "NHWC", scale: 1, mean: [0], std: [1] },
    taps: { early: "early", penultimate: "penultimate", logits: "logits" },
    shapes: {
      input: [1, 1, 1],
      early: [penultimate],
      penultimate: [penultimate],
      logits: [classes],
    },
    forward: () => Effect.die("a stand-in model is never run: its sets' features are given"),
    ...(head === undefined ? {} : { head: Effect.succeed(head) }),
  };
}

/** FitInputs around a training set (unlabelled rows get class 0) and validation data. */
export function fitInputs(
  train: ExtractedSet,
  validation: ValidationData = { id: train, ood: [] },
  model: FeatureModel = standInModel(train.features.penultimate.cols, train.features.logits.cols),
): FitInputs {
  const labels = train.features.labels ?? new Uint8Array(train.features.count);
  const labelled: LabelledSet = {
    ...train.images,
    labels,
    classNames: Array.from({ length: train.features.logits.cols }, (_, i) => `c${i}`),
  };
  return {
    model,
    train: {
      images: labelled,
      features: { ...train.features, labels },
      classSums: [],
      key: "test-train",
    },
    validation,
  };
}

/**
 * A model that is only a head on D features: z = h·kernel + bias (kernel D × C, rows =
 * features), read by the head-based detectors (`FeatureModel.head`).
 */
export function headOnlyModel(
  kernel: ReadonlyArray<ReadonlyArray<number>>,
  bias: ReadonlyArray<number>,
): FeatureModel {
  const head = headFrom(kernel.flat(), kernel.length, bias.length, { bias });
  return standInModel(kernel.length, bias.length, head);
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
