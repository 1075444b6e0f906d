/**
 * Logit math shared by the baselines, in float64: log-sum-exp, softmax, percentiles, and the
 * classifier head (`readHead`) applied to edited features, so ReAct, ASH, DICE and SCALE recompute
 * logits without tfjs.
 *
 * @module
 */
import { Data, Effect } from "effect";
import type { FitInputs } from "./detector.ts";
import { type Matrix, matrix } from "../matrix.ts";
import type { Head } from "../models/head.ts";

/**
 * log Σⱼ exp(zⱼ / T) over `length` values of `values` from `offset`, computed stably as
 * m + log Σ exp(zⱼ/T − m) with m the largest zⱼ/T.
 */
export function logSumExp(
  values: ArrayLike<number>,
  offset = 0,
  length = values.length - offset,
  temperature = 1,
): number {
  let largest = -Infinity;
  for (let j = 0; j < length; j++) largest = Math.max(largest, values[offset + j]! / temperature);
  if (!Number.isFinite(largest)) return largest; // all −∞ (or a NaN/+∞): nothing to stabilise
  let sum = 0;
  for (let j = 0; j < length; j++) sum += Math.exp(values[offset + j]! / temperature - largest);
  return largest + Math.log(sum);
}

/** log-sum-exp of every row of `logits` at temperature `T`. */
export function rowLogSumExp(logits: Matrix, temperature = 1): Float64Array {
  const out = new Float64Array(logits.rows);
  for (let i = 0; i < logits.rows; i++) {
    out[i] = logSumExp(logits.data, i * logits.cols, logits.cols, temperature);
  }
  return out;
}

/** softmax(z / T) of one row, in float64. */
export function softmaxRow(
  values: ArrayLike<number>,
  offset = 0,
  length = values.length - offset,
  temperature = 1,
): Float64Array {
  const lse = logSumExp(values, offset, length, temperature);
  return Float64Array.from({ length }, (_, j) => Math.exp(values[offset + j]! / temperature - lse));
}

/**
 * The largest softmax probability of every row at temperature `T`, as 1 / (1 + t), t = Σ over all
 * but one largest zⱼ of exp((zⱼ − max z)/T): summing the small terms first keeps confident rows
 * apart to float64's last bit (docs/internals/detectors.md).
 */
export function rowMaxSoftmax(logits: Matrix, temperature = 1): Float64Array {
  const { rows, cols, data } = logits;
  const largest = rowMax(logits);
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const top = largest[i]!;
    let skipped = false;
    let t = 0;
    for (let j = 0; j < cols; j++) {
      const z = data[i * cols + j]!;
      if (z === top && !skipped) skipped = true;
      else t += Math.exp((z - top) / temperature);
    }
    out[i] = 1 / (1 + t);
  }
  return out;
}

/** The largest value of every row. */
export function rowMax(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows).fill(-Infinity);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) out[i] = Math.max(out[i]!, m.data[i * m.cols + j]!);
  }
  return out;
}

/** The classifier's last dense layer, as plain arrays: z = h·kernel + bias (`lib/models/head.ts`). */
export type { Head } from "../models/head.ts";

/** The model has no classifier head whose weights a detector can read. */
export class MissingHead extends Data.TaggedError("MissingHead")<{
  readonly detector: string;
  readonly reason: string;
  /** The kind of the model it was fitted on. */
  readonly modelKind: string;
  /** The model's path or label. */
  readonly model: string;
}> {
  /** Names the detector, the model and its kind, and why the head cannot be read. */
  override get message(): string {
    return `Cannot read the classifier head for ${this.detector} (model "${this.model}" of kind ` +
      `"${this.modelKind}"): ${this.reason}`;
  }
}

/**
 * The classifier head z = h·W + b of the model the detector is fitted on (`FeatureModel.head`,
 * every kind). Fails with `MissingHead` naming the detector and the model when there is none.
 */
export const readHead = (
  detector: string,
  inputs: Pick<FitInputs, "model">,
): Effect.Effect<Head, MissingHead> =>
  Effect.suspend(() => {
    const { model } = inputs;
    const missing = (reason: string) =>
      new MissingHead({ detector, modelKind: model.kind, model: model.name, reason });
    return model.head === undefined
      ? Effect.fail(missing("this model's adapter cannot read classifier heads"))
      : Effect.mapError(model.head, (error) => missing(error.reason));
  });

/** z = h·W + b for every row of `features` (N × D) → N × C logits (float64 sums). */
export function applyHead(features: Matrix, head: Head): Matrix {
  if (features.cols !== head.inputSize) {
    throw new RangeError(
      `Cannot apply a head of input size ${head.inputSize} to ${features.cols} features`,
    );
  }
  const { rows, cols: d } = features;
  const c = head.numClasses;
  const out = new Float32Array(rows * c);
  const sums = new Float64Array(c);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < c; j++) sums[j] = head.bias[j]!;
    for (let k = 0; k < d; k++) {
      const h = features.data[i * d + k]!;
      if (h === 0) continue; // post-ReLU features are often 0 (and ASH zeroes 90%)
      for (let j = 0; j < c; j++) sums[j]! += h * head.kernel[k * c + j]!;
    }
    for (let j = 0; j < c; j++) out[i * c + j] = sums[j]!;
  }
  return matrix(rows, c, out);
}

/** Energy score −T·logsumexp(z/T) of every row (higher = more OOD), as float64 scores. */
export function energyScores(logits: Matrix, temperature = 1): Float64Array {
  const lse = rowLogSumExp(logits, temperature);
  return Float64Array.from(lse, (l) => -temperature * l);
}

/**
 * The p-th percentile (0–100) of `values` with linear interpolation between closest ranks,
 * numpy's default (`np.percentile(..., method="linear")`): position p/100·(n − 1) in the sorted
 * values. Sorts a copy.
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  const position = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}
