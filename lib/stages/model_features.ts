/**
 * The feature stage over any `FeatureModel` (ONNX, tfjs, grood's CNN on onnxruntime or tfjs):
 * the same `Extraction` as `extractFeatures` (penultimate features and logits per image,
 * per-class sums of early features), so the detectors run unchanged on any model. It is the
 * pass of the pipeline (every engine but grood's CNN on tfjs, which keeps `extractFeatures`),
 * of `fit` and of GROOD's streamed fit's callers.
 *
 * The class sums are named after the point they are taken at: the early tap's engine name
 * (`model.taps.early`), or one of the model's `points` (grood's CNN: any convolutional block),
 * which is what GROOD's `earlyBoundary` must then be.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet } from "../data/images.ts";
import { matrix } from "../matrix.ts";
import { batches, channelsOf } from "../data/images.ts";
import { MissingTap } from "../models/errors.ts";
import { requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, type FeatureTensor, preprocess, sizeOf } from "../models/model.ts";
import { type ClassSums, type Extraction, MissingLabels, type SetFeatures } from "./features.ts";

/** Options of the model extraction pass. */
export interface ModelExtractOptions {
  readonly batchSize?: number;
  /** Accumulate per-class sums of the early tap (needs a labelled set). */
  readonly earlyClassSums?: boolean;
  /**
   * Accumulate per-class sums at these points (the early tap's engine name, or a name of the
   * model's `points`: any convolutional block of grood's CNN), in the same pass.
   */
  readonly classSumsAt?: ReadonlyArray<string>;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Run `model` once over `set`: penultimate features, logits, optional per-class sums. A NaN or
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
  const sums: Array<ClassSums> = names.map((name) => ({
    boundary: name,
    featureShape: shapeOf(name)!,
    sums: new Float64Array(numClasses * sizeOf(shapeOf(name)!)),
    counts: new Float64Array(numClasses),
  }));
  // One pass: through the named points when any is not a tap, else through the taps.
  const pass = (x: FeatureTensor) =>
    viaPoints
      ? model.forwardPoints!(x, [model.taps.penultimate, model.taps.logits, ...names])
      : model.forward(
        x,
        "input",
        names.length > 0 ? ["penultimate", "logits", "early"] : ["penultimate", "logits"],
      );
  for (const batch of batches(set, options.batchSize ?? 500)) {
    const { start, size } = batch;
    const x = yield* preprocess(model.name, model.input, batch.pixels, size, channelsOf(set));
    const outputs = yield* pass(x);
    // Every value the model gives is checked here, as it comes in (`lib/models/finite.ts`).
    yield* requireFiniteOutputs({ model: model.name, set: set.name, start, rows: size }, [
      ["penultimate features", outputs[0]!],
      ["logits", outputs[1]!],
    ]);
    penData.set(outputs[0]!.data, start * dim);
    logitData.set(outputs[1]!.data, start * numClasses);
    sums.forEach((s, k) => {
      const values = outputs[2 + k]!.data;
      const size1 = values.length / size;
      for (let i = 0; i < size; i++) {
        const c = set.labels![start + i]!;
        s.counts[c]! += 1;
        const row = values.subarray(i * size1, (i + 1) * size1);
        const offset = c * size1;
        for (let j = 0; j < size1; j++) s.sums[offset + j]! += row[j]!;
      }
    });
    options.onProgress?.(start + size, set.count);
    yield* Effect.yieldNow;
  }
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
