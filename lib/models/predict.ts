/**
 * Batched inference: the predicted class (the argmax of the logits) of every image of a set,
 * for a model of any kind. A NaN or infinite logit is refused, never ranked.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet } from "../data/images.ts";
import { forEachBatch, type TapPassOptions } from "./batches.ts";
import type { ModelError } from "./errors.ts";
import { type NonFiniteOutput, requireFiniteOutputs } from "./finite.ts";
import type { FeatureModel } from "./model.ts";

/**
 * The argmax class of every image of `set` (ties go to the lower class). Fails with
 * `NonFiniteOutput` naming the first image whose logits are not finite.
 */
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
          let best = 0;
          for (let c = 1; c < classes; c++) {
            if (logits!.data[i * classes + c]! > logits!.data[i * classes + best]!) best = c;
          }
          out[start + i] = best;
        }
      }), options);
    return out;
  });
