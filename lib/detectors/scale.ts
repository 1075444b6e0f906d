/**
 * SCALE (Xu et al., ICLR 2024; OpenOOD v1.5 `scale`): h' = h·exp(s1/s2), s1 = Σ h, s2 = the sum of
 * the k largest activations at percentile p (k as ASH's); the whole vector is scaled, nothing is
 * pruned (the difference from ASH-S). Then Energy −logsumexp(h'·W + b). p is tuned on validation
 * data over OpenOOD's grid unless given.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { type Matrix, matrix } from "../matrix.ts";
import {
  ASH_PERCENTILE_GRID,
  ashKeptCount,
  type AshOptions,
  TunedPercentileOptionsSpec,
} from "./ash.ts";
import type { Detector } from "./detector.ts";
import { baselineEntry } from "./entry.ts";
import { fitPercentileHeadEnergy } from "./head_energy.ts";

/** OpenOOD v1.5's percentile grid for SCALE: ASH's (`configs/postprocessors/scale.yml`). */
export const SCALE_PERCENTILE_GRID: ReadonlyArray<number> = ASH_PERCENTILE_GRID;

/**
 * Options of {@link scale}: ASH's, without the variant (a fixed `percentile`, or the
 * `percentileGrid` tuned over, default `SCALE_PERCENTILE_GRID`).
 */
export type ScaleOptions = Omit<AshOptions, "variant">;

/**
 * s1 / s2 for every row: the sum of its activations over the sum of its k largest at
 * percentile p (k = `ashKeptCount`), the exponent of SCALE's and ASH-S's factor exp(s1 / s2);
 * 0 (no scaling) when s2 = 0, where the reference would divide 0 by 0.
 *
 * @example
 * ```ts
 * import { scaleExponents } from "./scale.ts";
 * import { matrix } from "../matrix.ts";
 * // 10 activations, p = 90 keeps 1: (5 + 1·9) / 5.
 * const [e] = scaleExponents(matrix(1, 10, [5, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 90);
 * if (e !== 14 / 5) throw new Error("wrong");
 * ```
 */
export function scaleExponents(features: Matrix, p: number): Float64Array {
  const { rows, cols: n, data } = features;
  const k = ashKeptCount(n, p);
  const out = new Float64Array(rows);
  const sorted = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    let s1 = 0;
    for (let j = 0; j < n; j++) {
      s1 += data[i * n + j]!;
      sorted[j] = data[i * n + j]!;
    }
    sorted.sort();
    let s2 = 0;
    for (let r = n - k; r < n; r++) s2 += sorted[r]!;
    out[i] = s2 === 0 ? 0 : s1 / s2;
  }
  return out;
}

/** h · exp(s1 / s2) for every row (s2 = sum of the k largest activations at percentile p). */
export function scaleFeatures(features: Matrix, p: number): Matrix {
  const { rows, cols: n, data } = features;
  const exponents = scaleExponents(features, p);
  const out = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) {
    const factor = Math.exp(exponents[i]!);
    for (let j = 0; j < n; j++) out[i * n + j] = data[i * n + j]! * factor;
  }
  return matrix(rows, n, out);
}

/** The SCALE detector: Energy of the logits recomputed from scaled penultimate features. */
export function scale(options: ScaleOptions = {}): Detector {
  const name = "SCALE";
  const grid = options.percentileGrid ?? SCALE_PERCENTILE_GRID;
  return {
    name,
    description: `SCALE: scale each penultimate feature by exp(s1/s2), s2 the sum of its top ` +
      `(100 − p)%, p ${
        options.percentile === undefined ? "tuned on validation" : `= ${options.percentile}`
      }, then Energy −logsumexp(z) (Xu et al., ICLR 2024)`,
    fit: (inputs) =>
      fitPercentileHeadEnergy({
        detector: name,
        percentile: options.percentile,
        grid,
        transform: scaleFeatures,
        settings: (p, head) => ({ kept: ashKeptCount(head.inputSize, p) }),
      }, inputs),
  };
}

export const scaleEntry = baselineEntry(scale, {
  kind: "scale",
  title: "SCALE",
  source: "Xu et al., ICLR 2024; OpenOOD `scale`",
  options: TunedPercentileOptionsSpec,
});
