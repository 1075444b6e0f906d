/**
 * The feature stage over any `FeatureModel` (ONNX, tfjs, grood's CNN): the same `Extraction`
 * as `extractFeatures` (penultimate features and logits per image, per-class sums of the early
 * tap's features), so the detectors run unchanged on a model grood did not make. This is the
 * seam where the pipeline can switch engines; the built-in pipeline still runs
 * `extractFeatures` on grood's classifier.
 *
 * The class sums are named after the early tap's engine name (`model.taps.early`), which is
 * what GROOD's `earlyBoundary` must then be.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet } from "../data/images.ts";
import { matrix } from "../matrix.ts";
import { forEachBatch } from "../models/batches.ts";
import { requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, sizeOf } from "../models/model.ts";
import { type ClassSums, type Extraction, MissingLabels, type SetFeatures } from "./features.ts";

/** Options of the model extraction pass. */
export interface ModelExtractOptions {
  readonly batchSize?: number;
  /** Accumulate per-class sums of the early tap (needs a labelled set). */
  readonly earlyClassSums?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Run `model` once over `set`: penultimate features, logits, optional early class sums. A NaN or
 * infinite output fails with `NonFiniteOutput` naming the model, the set and the image.
 */
export const extractWithModel = Effect.fn("extractWithModel")(function* (
  model: FeatureModel,
  set: ImageSet,
  options: ModelExtractOptions = {},
) {
  const dim = sizeOf(model.shapes.penultimate);
  const numClasses = sizeOf(model.shapes.logits);
  const penData = new Float32Array(set.count * dim);
  const logitData = new Float32Array(set.count * numClasses);
  const withSums = options.earlyClassSums ?? false;
  if (withSums && set.labels === undefined) return yield* new MissingLabels({ set: set.name });
  const earlySize = sizeOf(model.shapes.early);
  const sums: ClassSums = {
    boundary: model.taps.early,
    featureShape: model.shapes.early,
    sums: new Float64Array(withSums ? numClasses * earlySize : 0),
    counts: new Float64Array(withSums ? numClasses : 0),
  };
  const taps = withSums
    ? (["penultimate", "logits", "early"] as const)
    : (["penultimate", "logits"] as const);
  yield* forEachBatch(model, set, taps, (start, size, outputs) =>
    // Every value the model gives is checked here, as it comes in (`lib/models/finite.ts`).
    requireFiniteOutputs({ model: model.name, set: set.name, start, rows: size }, [
      ["penultimate features", outputs[0]!],
      ["logits", outputs[1]!],
    ]).pipe(Effect.map(() => {
      penData.set(outputs[0]!.data, start * dim);
      logitData.set(outputs[1]!.data, start * numClasses);
      if (withSums) {
        const early = outputs[2]!.data;
        for (let i = 0; i < size; i++) {
          const c = set.labels![start + i]!;
          sums.counts[c]! += 1;
          const row = early.subarray(i * earlySize, (i + 1) * earlySize);
          const offset = c * earlySize;
          for (let j = 0; j < earlySize; j++) sums.sums[offset + j]! += row[j]!;
        }
      }
      options.onProgress?.(start + size, set.count);
    })), options.batchSize === undefined ? {} : { batchSize: options.batchSize });
  const features: SetFeatures = {
    name: set.name,
    count: set.count,
    penultimate: matrix(set.count, dim, penData),
    logits: matrix(set.count, numClasses, logitData),
    ...(set.labels === undefined ? {} : { labels: set.labels }),
  };
  const extraction: Extraction = { features, classSums: withSums ? [sums] : [] };
  return extraction;
});
