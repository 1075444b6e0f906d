/**
 * What every section of the bench works with ({@link Bench}: the compute, the model, the plan,
 * and where figures and details go) and small helpers the sections share.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import type { Classifier } from "../../lib/model/mod.ts";
import type { FeatureModel } from "../../lib/models/mod.ts";
import { type ImageSet, type Matrix, permutation, subset, takeRows } from "../../lib/data/mod.ts";
import type { PeakMemory, RunPlan } from "./measure.ts";
import type { Plan } from "./plan.ts";
import type { Figure } from "./report.ts";

/** The state a bench section runs in. */
export interface Bench {
  readonly tf: typeof tfType;
  readonly net: Classifier;
  /** `net` on tfjs as a `FeatureModel` (what the feature and mix-up stages run on). */
  readonly model: FeatureModel;
  readonly plan: Plan;
  /** Warm-up and timed runs of every repeated figure. */
  readonly timedRuns: RunPlan;
  /** Peak RSS of this process (the fit section resets it). */
  readonly memory: PeakMemory;
  /** Record a figure (and print it). */
  readonly emit: (f: Figure) => void;
  /** Start a section: print its title and record the load average. */
  readonly section: (name: string) => void;
  /** What the figures do not say (sizes, agreement checks), by section. */
  readonly details: Record<string, unknown>;
}

/** 0 … n − 1. */
export const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i);

/** The first `n` images of a set (the set itself if it has no more). */
export const firstImages = <S extends ImageSet>(set: S, n: number): S =>
  n >= set.count ? set : subset(set, range(n), set.name);

/** Progress to stderr, so stdout holds only the figures. */
export const progress = (line: string): void => console.error(`  … ${line}`);

/** Largest |a[i] − b[i]| (Infinity if the lengths differ). */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return a.length === b.length ? worst : Infinity;
}

/** Whether two typed arrays hold the same bytes (bit-identical results). */
export function sameBits(
  a: Float64Array | Float32Array | Int32Array,
  b: Float64Array | Float32Array | Int32Array,
): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Rows of `m` at a seeded sample of `n` distinct row indices (all rows, in order, if n ≥ rows). */
export function sampleRows(m: Matrix, n: number | "all", seed: number): Matrix {
  if (n === "all" || n >= m.rows) return m;
  return takeRows(m, Array.from(permutation(m.rows, seed).subarray(0, n)).sort((a, b) => a - b));
}
