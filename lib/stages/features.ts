/**
 * The one forward pass every detector shares, over any `FeatureModel`: each image's penultimate
 * feature and logits, and optionally per-class sums of the features at the early tap or any of
 * the model's `points` (early feature maps are far too large to keep per image). The sums are
 * added in chunks of `FIT_CHUNK` images (`class_sums.ts`), as GROOD's fit adds them.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { checkImageSet, type InvalidImageSet } from "../data/checks.ts";
import { channelsOf, type ImageSet } from "../data/images.ts";
import { InvalidParameter } from "../errors.ts";
import { type Matrix, matrix } from "../matrix.ts";
import { reportProgress } from "../progress.ts";
import { MissingTap, type ModelError } from "../models/errors.ts";
import { type NonFiniteOutput, requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, type FeatureTensor, preprocess, sizeOf } from "../models/model.ts";
import { pipelinedBatches } from "../models/batches.ts";
import { chunkedSums, FIT_CHUNK } from "./class_sums.ts";

export { NonFiniteOutput } from "../models/finite.ts";

/** Class sums were asked of a set without labels. */
export class MissingLabels extends Data.TaggedError("MissingLabels")<{ readonly set: string }> {
  /** Names the set without labels. */
  override get message(): string {
    return `Cannot compute per-class feature sums on "${this.set}": it has no labels`;
  }
}

/** Penultimate features and logits of every image of a set. */
export interface SetFeatures {
  /** The set's name (from its `ImageSet`), used in errors and cache keys. */
  readonly name: string;
  /** Number of images N (rows of `penultimate` and `logits`). */
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
  /** The point the sums were taken at (the early tap's engine name or a model point). */
  readonly boundary: string;
  /** Shape of one image's feature map at `boundary` (F = its product). */
  readonly featureShape: ReadonlyArray<number>;
  /** C × F sums of flattened features, row `c` over the images of class `c`. */
  readonly sums: Float64Array;
  /** Images per class (C), the divisors that turn `sums` into means. */
  readonly counts: Float64Array;
  /** Images per chunk the sums were added in (`chunkedSums`), GROOD's fit's chunk. */
  readonly chunk: number;
}

/** Options of the extraction pass. */
export interface ExtractOptions {
  /** Images per forward pass (default 500, ≥ 1). */
  readonly batchSize?: number;
  /** Accumulate per-class sums of the early tap (needs a labelled set). */
  readonly earlyClassSums?: boolean;
  /** Accumulate per-class sums at these points (the early tap or `points`; needs labels). */
  readonly classSumsAt?: ReadonlyArray<string>;
  /** Images per chunk the class sums are added in (default `FIT_CHUNK`; see `class_sums.ts`). */
  readonly sumChunk?: number;
}

/** The output of the extraction pass. */
export interface Extraction {
  /** Penultimate features and logits of every image. */
  readonly features: SetFeatures;
  /** Per-class sums, one per boundary asked for (`earlyClassSums`, `classSumsAt`). */
  readonly classSums: ReadonlyArray<ClassSums>;
}

/** What the extraction pass can fail with. */
export type ExtractError =
  | InvalidImageSet
  | InvalidParameter
  | MissingLabels
  | ModelError
  | NonFiniteOutput;

/**
 * Run `model` once over `set`, in batches: penultimate features, logits, optional per-class sums
 * (float64). The set is checked against the model's input first; a NaN or infinite output fails
 * with `NonFiniteOutput`. Each batch is reported to the `Progress` as `features of <set>`.
 */
export const extractFeatures: (
  model: FeatureModel,
  set: ImageSet,
  options?: ExtractOptions,
) => Effect.Effect<Extraction, ExtractError> = Effect.fn("extractFeatures")(function* (
  model,
  set,
  options = {},
) {
  const batchSize = options.batchSize ?? 500;
  const dim = sizeOf(model.shapes.penultimate);
  const numClasses = sizeOf(model.shapes.logits);
  yield* checkImageSet(set, {
    inputShape: [model.input.height, model.input.width, channelsOf(set)],
    numClasses,
  });
  const sumChunk = options.sumChunk ?? FIT_CHUNK;
  for (
    const [name, value, expected] of [
      ["batchSize", batchSize, "≥ 1"],
      ["sumChunk", sumChunk, "a whole number ≥ 1"],
    ] as const
  ) {
    if (!(Number.isInteger(value) && value >= 1)) {
      return yield* new InvalidParameter({ name, value, expected });
    }
  }
  const penData = new Float32Array(set.count * dim);
  const logitData = new Float32Array(set.count * numClasses);
  const points = model.points ?? [];
  const order = points.map((p) => p.name);
  const names = [
    ...new Set([
      ...(options.earlyClassSums === true ? [model.taps.early] : []),
      ...(options.classSumsAt ?? []),
    ]),
  ].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  if (names.length > 0 && set.labels === undefined) {
    return yield* new MissingLabels({ set: set.name });
  }
  const viaPoints = names.some((n) => n !== model.taps.early);
  const shapeOf = (name: string) =>
    name === model.taps.early ? model.shapes.early : points.find((p) => p.name === name)?.shape;
  for (const name of names) {
    if (shapeOf(name) === undefined || (viaPoints && model.forwardPoints === undefined)) {
      return yield* new MissingTap({
        model: model.name,
        tap: "early",
        tensor: name,
        known: [model.taps.early, ...order],
      });
    }
  }
  const accumulators = names.map((name) =>
    chunkedSums(numClasses, sizeOf(shapeOf(name)!), sumChunk)
  );
  // One pass: through the named points when any is not a tap, else through the taps.
  const pass = (x: FeatureTensor) =>
    viaPoints
      ? model.forwardPoints!(x, [model.taps.penultimate, model.taps.logits, ...names])
      : model.forward(
        x,
        "input",
        names.length > 0 ? ["penultimate", "logits", "early"] : ["penultimate", "logits"],
      );
  yield* pipelinedBatches(
    set,
    batchSize,
    (batch) =>
      Effect.flatMap(
        preprocess(model.name, model.input, batch.pixels, batch.size, channelsOf(set)),
        pass,
      ),
    ({ start, size }, outputs) =>
      Effect.gen(function* () {
        yield* requireFiniteOutputs({ model: model.name, set: set.name, start, rows: size }, [
          ["penultimate features", outputs[0]!],
          ["logits", outputs[1]!],
        ]);
        penData.set(outputs[0]!.data, start * dim);
        logitData.set(outputs[1]!.data, start * numClasses);
        const labels = set.labels?.subarray(start, start + size);
        accumulators.forEach((sums, k) => sums.add(labels!, outputs[2 + k]!.data));
        yield* reportProgress(`features of ${set.name}`, start + size, set.count);
      }),
  );
  return {
    features: {
      name: set.name,
      count: set.count,
      penultimate: matrix(set.count, dim, penData),
      logits: matrix(set.count, numClasses, logitData),
      ...(set.labels === undefined ? {} : { labels: set.labels }),
    },
    classSums: names.map((name, k) => ({
      boundary: name,
      featureShape: shapeOf(name)!,
      ...accumulators[k]!.finish(),
      chunk: sumChunk,
    })),
  };
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
