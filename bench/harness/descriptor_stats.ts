/**
 * The shape of a set of GROOD descriptors that matters to a k-NN index, measured so synthetic
 * descriptors can be drawn to match it (`synthetic_descriptors.ts`):
 *
 * - **norms**: a GROOD descriptor is π_ood · (h − p_ood)/‖h − p_ood‖, so its norm is π_ood and
 *   spans orders of magnitude; kept as quantiles of log₁₀ ‖x‖;
 * - **classes**: the share of each class;
 * - **direction spread**: the unit direction x/‖x‖ around its class's mean direction, as the
 *   cosine between them (median), the cosine between class mean directions (median over
 *   pairs), and the eigenvalue spectrum of the within-class scatter of directions, summarised
 *   by a power law λⱼ ∝ j^(−α) fitted to the leading eigenvalues (how many directions the
 *   spread really uses).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { decodeJsonText, InvalidInput } from "../../mod.ts";
import { type Matrix } from "../../lib/data/mod.ts";
import { symmetricEigen } from "../../lib/detectors/mod.ts";
import { osReason } from "../../lib/io/mod.ts";

/** Measured statistics of a descriptor set (see the module doc). */
export interface DescriptorStats {
  readonly rows: number;
  readonly dim: number;
  /** log₁₀ of the norm at the quantiles 0, 1/100, …, 1 (101 values, increasing). */
  readonly logNormQuantiles: ReadonlyArray<number>;
  /** Share of each class (sums to 1). */
  readonly classShares: ReadonlyArray<number>;
  /** Median cosine between a direction and its class's mean direction. */
  readonly medianCosineToClass: number;
  /** Median cosine between two classes' mean directions. */
  readonly medianCosineBetweenClasses: number;
  /** Eigenvalues of the pooled within-class scatter of unit directions, largest first. */
  readonly spectrum: ReadonlyArray<number>;
  /** Exponent α of the power law λⱼ ∝ j^(−α) fitted to the spectrum (see {@link fitPowerLaw}). */
  readonly spectrumExponent: number;
}

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
const Real = Schema.Finite;

/** {@link DescriptorStats} as a Schema (a parent writes them to a file for a child to match). */
export const DescriptorStatsJson = Schema.Struct({
  rows: Count,
  dim: Count,
  logNormQuantiles: Schema.Array(Real),
  classShares: Schema.Array(Real),
  medianCosineToClass: Real,
  medianCosineBetweenClasses: Real,
  spectrum: Schema.Array(Real),
  spectrumExponent: Real,
});

/** Read the {@link DescriptorStats} a parent wrote to `path` for a child to match. */
export const readDescriptorStats = (
  path: string,
): Effect.Effect<DescriptorStats, InvalidInput> =>
  Effect.tryPromise({
    try: () => Deno.readTextFile(path),
    catch: (error) =>
      new InvalidInput({
        source: path,
        problems: [{ path: "", problem: `cannot read it (${osReason(error)})` }],
      }),
  }).pipe(Effect.flatMap(decodeJsonText(DescriptorStatsJson, path)));

/** The q-quantile of sorted values (linear interpolation between order statistics). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (at - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * Least-squares fit of log λⱼ = c − α log j over the leading eigenvalues that hold 99% of the
 * total (at least two); returns α. A flat spectrum gives α ≈ 0, a fast decay a large α.
 */
export function fitPowerLaw(spectrum: ReadonlyArray<number>): number {
  const total = spectrum.reduce((s, v) => s + Math.max(v, 0), 0);
  let used = 0;
  let count = 0;
  while (count < spectrum.length && (count < 2 || used < 0.99 * total)) {
    used += Math.max(spectrum[count]!, 0);
    count++;
  }
  const xs: Array<number> = [];
  const ys: Array<number> = [];
  for (let j = 0; j < count; j++) {
    if (spectrum[j]! > 0) {
      xs.push(Math.log(j + 1));
      ys.push(Math.log(spectrum[j]!));
    }
  }
  const mx = xs.reduce((s, v) => s + v, 0) / xs.length;
  const my = ys.reduce((s, v) => s + v, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? 0 : -sxy / sxx;
}

/** Measure the statistics of descriptors `x` whose classes are `classes` (0 … C − 1). */
export function descriptorStats(x: Matrix, classes: Uint8Array): DescriptorStats {
  const { rows, cols: d } = x;
  const numClasses = classes.reduce((m, c) => Math.max(m, c + 1), 0);
  const norms = new Float64Array(rows);
  const unit = new Float64Array(rows * d);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x.data[i * d + j]! ** 2;
    norms[i] = Math.sqrt(s);
    for (let j = 0; j < d; j++) {
      unit[i * d + j] = norms[i]! > 0 ? x.data[i * d + j]! / norms[i]! : 0;
    }
  }
  const logNorms = Float64Array.from(norms, (v) => Math.log10(v)).sort();
  const logNormQuantiles = Array.from({ length: 101 }, (_, q) => quantileSorted(logNorms, q / 100));
  const counts = new Float64Array(numClasses);
  const means = new Float64Array(numClasses * d);
  for (let i = 0; i < rows; i++) {
    const c = classes[i]!;
    counts[c]!++;
    for (let j = 0; j < d; j++) means[c * d + j]! += unit[i * d + j]!;
  }
  // Within-class scatter of unit directions around the class mean (not normalised), pooled.
  const scatter = new Float64Array(d * d);
  const residual = new Float64Array(d);
  for (let i = 0; i < rows; i++) {
    const c = classes[i]!;
    for (let j = 0; j < d; j++) residual[j] = unit[i * d + j]! - means[c * d + j]! / counts[c]!;
    for (let a = 0; a < d; a++) {
      const ra = residual[a]!;
      for (let b = a; b < d; b++) scatter[a * d + b]! += ra * residual[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      scatter[a * d + b]! /= rows;
      scatter[b * d + a] = scatter[a * d + b]!;
    }
  }
  const meanDirection = (c: number) => {
    const m = means.subarray(c * d, (c + 1) * d);
    const n = Math.hypot(...m);
    return Array.from(m, (v) => (n > 0 ? v / n : 0));
  };
  const directions = Array.from({ length: numClasses }, (_, c) => meanDirection(c));
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += a[j]! * b[j]!;
    return s;
  };
  const toClass = Float64Array.from(
    { length: rows },
    (_, i) => dot(unit.subarray(i * d, (i + 1) * d), directions[classes[i]!]!),
  ).sort();
  const between: Array<number> = [];
  for (let a = 0; a < numClasses; a++) {
    for (let b = a + 1; b < numClasses; b++) {
      if (counts[a]! > 0 && counts[b]! > 0) between.push(dot(directions[a]!, directions[b]!));
    }
  }
  between.sort((a, b) => a - b);
  const spectrum = Array.from(symmetricEigen(scatter, d).values);
  return {
    rows,
    dim: d,
    logNormQuantiles,
    classShares: Array.from(counts, (c) => c / rows),
    medianCosineToClass: quantileSorted(toClass, 0.5),
    medianCosineBetweenClasses: between.length === 0 ? NaN : quantileSorted(between, 0.5),
    spectrum,
    spectrumExponent: fitPowerLaw(spectrum),
  };
}
