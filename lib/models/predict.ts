/**
 * Batched inference: the predicted class (argmax of the logits) of every image of a set. A NaN
 * or infinite logit is refused, never ranked.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet } from "../data/images.ts";
import { forEachBatch, type TapPassOptions } from "./batches.ts";
import type { ModelError } from "./errors.ts";
import { type NonFiniteOutput, requireFiniteOutputs } from "./finite.ts";
import type { FeatureModel } from "./model.ts";

/** The argmax class of every image of `set` (ties to the lower class); `NonFiniteOutput` else. */
export const predictClasses = (
  model: FeatureModel,
  set: ImageSet,
  options: TapPassOptions = {},
): Effect.Effect<Int32Array, ModelError | NonFiniteOutput> =>
  Effect.gen(function* () {
    const out = new Int32Array(set.count);
    yield* forEachBatch(model, set, ["logits"], (start, size, [logits]) =>
      Effect.gen(function* () {
        yield* requireFiniteOutputs(
          { model: model.name, set: set.name, start, rows: size },
          [["logits", logits!]],
        );
        const classes = logits!.data.length / size;
        for (let i = 0; i < size; i++) {
          const row = logits!.data.subarray(i * classes, (i + 1) * classes);
          out[start + i] = row.reduce((best, v, c) => v > row[best]! ? c : best, 0);
        }
      }), options);
    return out;
  });
