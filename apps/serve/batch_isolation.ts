/**
 * Isolation of one client's bad images within a micro-batch (`batcher.ts`): when a batch of
 * several requests fails, each request is scored again alone (`scoreAlone`), and a request failing
 * alone with a non-finite-output error is scored image by image, so one client's bad image never
 * fails another's request. A non-finite score is an `invalid` verdict for that image (`invalid[i]`
 * says why), never an in-distribution one.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import type { ImageScores } from "./detector.ts";
import type { Refusal } from "./limits.ts";

/** A request's scores, with why any image has no valid score. */
export interface RequestScores extends ImageScores {
  /** Per image: undefined, or why its score is not valid (verdict `invalid`). */
  readonly invalid: ReadonlyArray<string | undefined>;
  /** Milliseconds from the images' entry into the queue to the start of their batch. */
  readonly queueMs?: number;
  /** Milliseconds from the start of their batch to their scores. */
  readonly computeMs?: number;
}

/**
 * Rows `[from, from + count)` of a batch's scores, each non-finite score marked invalid.
 *
 * @example
 * ```ts
 * import { sliceScores } from "./batch_isolation.ts";
 * const batch = {
 *   scores: Float64Array.of(0.1, NaN, 0.3),
 *   predicted: Int32Array.of(1, 2, 3),
 *   isOod: [false, false, true],
 * };
 * const mine = sliceScores(batch, 1, 2);
 * if (mine.predicted.join() !== "2,3" || mine.invalid[0] !== "its score is NaN") throw new Error();
 * if (mine.invalid[1] !== undefined) throw new Error("a finite score is valid");
 * ```
 */
export function sliceScores(scores: ImageScores, from: number, count: number): RequestScores {
  const s = scores.scores.slice(from, from + count);
  return {
    scores: s,
    predicted: scores.predicted.slice(from, from + count),
    isOod: scores.isOod.slice(from, from + count),
    invalid: Array.from(s, (x) => Number.isFinite(x) ? undefined : `its score is ${x}`),
  };
}

/** An error of the detector that says its output was not finite (the image's fault). */
function nonFinite(cause: Cause.Cause<unknown>): string | undefined {
  const error = cause.reasons.find(Cause.isFailReason)?.error;
  const tag = typeof error === "object" && error !== null && "_tag" in error
    ? String(error._tag)
    : "";
  if (!/NonFinite/i.test(tag)) return undefined;
  return error instanceof Error ? error.message : tag;
}

/** One scoring call of the detector (counted in the batch metrics by the caller). */
export type ScoreCall<E> = (
  pixels: Uint8Array,
  count: number,
) => Promise<Exit.Exit<ImageScores, E>>;

/**
 * Score one request's `count` images alone with `score`; image by image when the request fails
 * on a non-finite output (each such image is `invalid`, the others keep their scores). Any other
 * failure is the request's.
 */
export const scoreAlone = async <E>(
  score: ScoreCall<E>,
  pixels: Uint8Array,
  count: number,
): Promise<Effect.Effect<RequestScores, E | Refusal>> => {
  const exit = await score(pixels, count);
  if (Exit.isSuccess(exit)) return Effect.succeed(sliceScores(exit.value, 0, count));
  const problem = nonFinite(exit.cause);
  if (problem === undefined) return Effect.failCause(exit.cause);
  const per = pixels.length / count;
  const scores = new Float64Array(count).fill(NaN);
  const predicted = new Int32Array(count).fill(-1);
  const invalid: Array<string | undefined> = [];
  for (let i = 0; i < count; i++) {
    const one = count === 1 ? exit : await score(pixels.subarray(i * per, (i + 1) * per), 1);
    if (Exit.isSuccess(one)) {
      scores[i] = one.value.scores[0]!;
      predicted[i] = one.value.predicted[0]!;
      invalid.push(Number.isFinite(scores[i]) ? undefined : `its score is ${scores[i]}`);
    } else {
      const why = nonFinite(one.cause);
      if (why === undefined) return Effect.failCause(one.cause);
      invalid.push(why);
    }
  }
  return Effect.succeed({
    scores,
    predicted,
    isOod: Array.from(scores, () => false),
    invalid,
  });
};
