/**
 * The one forward pass every detector shares: for each image of a set, the penultimate
 * feature and the logits (kept, small), and optionally, per class, the sum of the features at
 * chosen block boundaries (for class prototypes at early layers, which are far too large to
 * keep per image: 60,000 × 6,272 floats at block1).
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Data, Effect } from "effect";
import { Compute } from "../compute/compute.ts";
import { checkImageSet } from "../data/checks.ts";
import { batches, type ImageSet } from "../data/images.ts";
import { type Classifier, penultimate, toInput } from "../model/classifier.ts";
import { InvalidParameter } from "../errors.ts";
import { type Matrix, matrix } from "../matrix.ts";
import { requireFiniteOutputs } from "../models/finite.ts";

export { NonFiniteOutput } from "../models/finite.ts";

/** Class sums were asked of a set without labels. */
export class MissingLabels extends Data.TaggedError("MissingLabels")<{ readonly set: string }> {
  override get message(): string {
    return `Cannot compute per-class feature sums on "${this.set}": it has no labels`;
  }
}

/** Penultimate features and logits of every image of a set. */
export interface SetFeatures {
  readonly name: string;
  readonly count: number;
  /** N × D penultimate features (the global-pool output). */
  readonly penultimate: Matrix;
  /** N × C logits. */
  readonly logits: Matrix;
  /** Ground-truth labels, for labelled (ID) sets. */
  readonly labels?: Uint8Array;
}

/** Per-class sums of flattened features at one boundary (C × F, float64) and class counts. */
export interface ClassSums {
  readonly boundary: string;
  readonly featureShape: ReadonlyArray<number>;
  readonly sums: Float64Array;
  readonly counts: Float64Array;
}

/** Options of the extraction pass. */
export interface ExtractOptions {
  readonly batchSize?: number;
  /** Boundaries at which to accumulate per-class feature sums (needs a labelled set). */
  readonly classSumsAt?: ReadonlyArray<string>;
  /** Called after each batch with the number of images done. */
  readonly onProgress?: (done: number, total: number) => void;
  /** The model's name in errors (default "grood's classifier"). */
  readonly modelName?: string;
}

/** The output of the extraction pass. */
export interface Extraction {
  readonly features: SetFeatures;
  readonly classSums: ReadonlyArray<ClassSums>;
}

/**
 * Run the classifier once over `set`, in batches, keeping penultimate features and logits and
 * accumulating per-class sums at `classSumsAt` boundaries.
 */
export const extractFeatures = Effect.fn("extractFeatures")(function* (
  net: Classifier,
  set: ImageSet,
  options: ExtractOptions = {},
) {
  const { tf } = yield* Compute;
  const batchSize = options.batchSize ?? 500;
  yield* checkImageSet(set, { inputShape: net.spec.inputShape, numClasses: net.numClasses });
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    return yield* new InvalidParameter({ name: "batchSize", value: batchSize, expected: "≥ 1" });
  }
  const pen = penultimate(net.spec);
  const dim = net.shapeAt(pen).reduce((a, b) => a * b, 1);
  const numClasses = net.numClasses;
  const penData = new Float32Array(set.count * dim);
  const logitData = new Float32Array(set.count * numClasses);
  const sumsAt = options.classSumsAt ?? [];
  if (sumsAt.length > 0 && set.labels === undefined) {
    return yield* new MissingLabels({ set: set.name });
  }
  // Order the boundaries as the network runs them, so one pass visits them all.
  const order = [...new Set(sumsAt)].sort((a, b) =>
    net.boundaries.indexOf(a) - net.boundaries.indexOf(b)
  );
  const sums = order.map((boundary) => {
    const featureShape = net.shapeAt(boundary);
    const size = featureShape.reduce((a, b) => a * b, 1);
    return {
      boundary,
      featureShape,
      sums: new Float64Array(numClasses * size),
      counts: new Float64Array(numClasses),
    };
  });
  for (const batch of batches(set, batchSize)) {
    const outputs = tf.tidy(() => {
      let x: tfType.Tensor = toInput(tf, batch.pixels, batch.size, net.spec.inputShape);
      let at = "input";
      const onehotT = set.labels === undefined || sums.length === 0 ? undefined : tf.transpose(
        tf.oneHot(
          tf.tensor1d(set.labels.subarray(batch.start, batch.start + batch.size), "int32"),
          numClasses,
        ),
      );
      const classSums: Array<Float32Array> = [];
      for (const s of sums) {
        x = net.forward(x, { from: at, to: s.boundary });
        at = s.boundary;
        const flat = tf.reshape(x, [batch.size, -1]);
        classSums.push(tf.matMul(tf.cast(onehotT!, "float32"), flat).dataSync() as Float32Array);
      }
      const h = net.forward(x, { from: at, to: pen });
      const logits = net.forward(h, { from: pen });
      return {
        h: h.dataSync() as Float32Array,
        logits: logits.dataSync() as Float32Array,
        classSums,
      };
    });
    penData.set(outputs.h, batch.start * dim);
    logitData.set(outputs.logits, batch.start * numClasses);
    sums.forEach((s, k) => {
      const batchSums = outputs.classSums[k]!;
      for (let i = 0; i < batchSums.length; i++) s.sums[i]! += batchSums[i]!;
    });
    if (set.labels !== undefined && sums.length > 0) {
      for (let i = batch.start; i < batch.start + batch.size; i++) {
        for (const s of sums) s.counts[set.labels[i]!]! += 1;
      }
    }
    options.onProgress?.(batch.start + batch.size, set.count);
    yield* Effect.yieldNow;
  }
  yield* requireFiniteOutputs(
    { model: options.modelName ?? "grood's classifier", set: set.name, start: 0, rows: set.count },
    [["penultimate features", { data: penData }], ["logits", { data: logitData }]],
  );
  const features: SetFeatures = {
    name: set.name,
    count: set.count,
    penultimate: matrix(set.count, dim, penData),
    logits: matrix(set.count, numClasses, logitData),
    ...(set.labels === undefined ? {} : { labels: set.labels }),
  };
  const extraction: Extraction = { features, classSums: sums };
  return extraction;
});

/** The argmax class of each row of a logits matrix. */
export function predictedClasses(logits: Matrix): Uint8Array {
  const out = new Uint8Array(logits.rows);
  for (let i = 0; i < logits.rows; i++) {
    let best = 0;
    for (let j = 1; j < logits.cols; j++) {
      if (logits.data[i * logits.cols + j]! > logits.data[i * logits.cols + best]!) best = j;
    }
    out[i] = best;
  }
  return out;
}
