/**
 * The one check of what a model gives back: its features and logits must be finite, never
 * passed on otherwise. A fit fails with {@link NonFiniteOutput} (`requireFiniteOutputs`); a
 * fitted detector marks such images `invalid` (`nonFiniteRows`) and scores the others.
 *
 * @module
 */
import { Data, Effect } from "effect";
import type { FeatureTensor } from "./model.ts";

/** The model produced a NaN or infinite feature or logit for an image: never passed on. */
export class NonFiniteOutput extends Data.TaggedError("NonFiniteOutput")<{
  readonly model: string;
  /** The image set (or source) being extracted. */
  readonly set: string;
  /** Which output: "penultimate features" or "logits". */
  readonly what: string;
  /** The image's index in the set. */
  readonly image: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `The model "${this.model}" gave a NaN or infinite value in its ${this.what} for ` +
      `image ${this.image} of "${this.set}" (check the model's weights)`;
  }
}

/** Rows (images) of `data` (`rows × n` values) holding a NaN or infinite value, ascending. */
export function nonFiniteRows(data: Float32Array | Float64Array, rows: number): Array<number> {
  // A plain loop: this runs on every forward batch (a callback per value was 10× slower).
  const bad: Array<number> = [];
  const per = rows === 0 ? 0 : data.length / rows;
  for (let r = 0; r < rows; r++) {
    for (let j = r * per; j < (r + 1) * per; j++) {
      if (!Number.isFinite(data[j]!)) {
        bad.push(r);
        break;
      }
    }
  }
  return bad;
}

/** One output of a batch to check: its name ("logits") and its values. */
export type NamedOutput = readonly [what: string, tensor: Pick<FeatureTensor, "data">];

/**
 * Fail with {@link NonFiniteOutput} at the first image of a batch (`rows` images starting at
 * image `start` of `set`) whose `outputs` hold a NaN or infinite value.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { requireFiniteOutputs } from "./finite.ts";
 * const logits = { data: new Float32Array([0, 1, NaN, 2]) };
 * const error = Effect.runSync(Effect.flip(
 *   requireFiniteOutputs({ model: "m.onnx", set: "train", start: 10, rows: 2 }, [["logits", logits]]),
 * ));
 * if (error.image !== 11 || error.what !== "logits") throw new Error("wrong image");
 * ```
 */
export const requireFiniteOutputs = (
  at: {
    readonly model: string;
    readonly set: string;
    readonly start: number;
    readonly rows: number;
  },
  outputs: ReadonlyArray<NamedOutput>,
): Effect.Effect<void, NonFiniteOutput> => {
  for (const [what, tensor] of outputs) {
    const bad = nonFiniteRows(tensor.data as Float32Array, at.rows);
    if (bad.length > 0) {
      return Effect.fail(
        new NonFiniteOutput({ model: at.model, set: at.set, what, image: at.start + bad[0]! }),
      );
    }
  }
  return Effect.void;
};
