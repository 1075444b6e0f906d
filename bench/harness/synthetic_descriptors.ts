/**
 * Synthetic GROOD-like descriptors of any size and dimension, drawn to match the statistics
 * measured on real ones ({@link DescriptorStats}), generated row by row so a caller can fill
 * an index chunk by chunk without ever holding the whole set twice.
 *
 * One row:
 * 1. a class c drawn with the real class shares;
 * 2. a direction u = normalise(mᶜ + s·n): mᶜ the class's unit centre and n Gaussian noise with
 *    variances λⱼ = the real within-class spectrum (its eigenvalues in order; past the real
 *    dimension, a power law fitted to its tail: {@link noiseScales}), so the spread uses as
 *    many directions, as unevenly, as the real one does. The centres are
 *    normalise(√ρ·g₀ + √(1 − ρ)·g_c) for Gaussian g₀ (shared) and g_c, so two centres have
 *    cosine ≈ ρ = the real median cosine between class directions (0 if that is negative);
 *    the scale s is solved (bisection on a seeded sample) so the median cosine between u and
 *    mᶜ is the real one;
 * 3. a norm 10^Q(U), U uniform and Q the real quantile function of log₁₀ norms (piecewise
 *    linear between percentiles), independent of the direction;
 * 4. the row is norm · u.
 *
 * Rows come from one seeded stream in order, so the first N rows are the same whatever the
 * chunk sizes, and a set of 60k rows is the start of the set of 600k with the same seed.
 *
 * @module
 */
import { type Matrix, mulberry32 } from "../../lib/data/mod.ts";
import { type DescriptorStats, fitPowerLaw } from "./descriptor_stats.ts";

/** A seeded stream of standard normal numbers (Box–Muller, both outputs used). */
function gaussianStream(seed: number): () => number {
  const random = mulberry32(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const t = 2 * Math.PI * random();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

function normalise(v: Float64Array): Float64Array {
  const n = Math.hypot(...v);
  for (let j = 0; j < v.length; j++) v[j] = v[j]! / n;
  return v;
}

/**
 * The noise variances of `dim` coordinates from a measured spectrum (largest first): the
 * measured eigenvalues, then, past them, a power law fitted to the last three quarters of the
 * measured ones (how the spread would continue in more dimensions). Returned as standard
 * deviations, scaled so the variances sum to 1 (the scale is solved separately).
 */
export function noiseScales(spectrum: ReadonlyArray<number>, dim: number): Float64Array {
  const measured = spectrum.filter((v) => v > 0);
  const from = Math.floor(measured.length / 4);
  const alpha = fitPowerLaw(measured.slice(from)) || 1;
  const last = measured.length - 1;
  const lambda = Float64Array.from(
    { length: dim },
    (_, j) =>
      j <= last ? measured[j]! : measured[last]! * ((j + 1 - from) / (last + 1 - from)) ** -alpha,
  );
  const total = lambda.reduce((a, b) => a + b, 0);
  return lambda.map((v) => Math.sqrt(v / total));
}

/**
 * The scale s for which the median cosine between mᶜ + s·n and mᶜ is `target`, on a seeded
 * sample of noise vectors (the cosine falls monotonically in s, so bisection finds it).
 */
function solveScale(
  centre: Float64Array,
  sd: Float64Array,
  target: number,
  seed: number,
): number {
  const d = centre.length;
  const gauss = gaussianStream(seed);
  const samples = 2000;
  const along = new Float64Array(samples); // n·m
  const squared = new Float64Array(samples); // ‖n‖²
  for (let i = 0; i < samples; i++) {
    for (let j = 0; j < d; j++) {
      const v = sd[j]! * gauss();
      along[i]! += v * centre[j]!;
      squared[i]! += v * v;
    }
  }
  const medianCosine = (s: number) => {
    const cos = Float64Array.from(
      { length: samples },
      (_, i) => (1 + s * along[i]!) / Math.sqrt(1 + 2 * s * along[i]! + s * s * squared[i]!),
    ).sort();
    return cos[samples >> 1]!;
  };
  let lo = 0;
  let hi = 1;
  while (medianCosine(hi) > target && hi < 1e6) hi *= 2;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (medianCosine(mid) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** A stream of synthetic descriptors (see the module doc). */
export interface DescriptorStream {
  readonly dim: number;
  /**
   * The next `rows` rows, written to `target` from its start (row-major, `rows × dim`), and
   * their classes to `classes` when given.
   */
  readonly fill: (target: Float32Array, rows: number, classes?: Uint8Array) => void;
  /** The noise scale s found for the direction spread (for the record). */
  readonly noiseScale: number;
}

/**
 * Which synthetic set: `world` seeds the class centres (shared by an index and its queries),
 * `stream` the rows (different for the index and the queries of one world).
 */
export interface SyntheticSeed {
  readonly world: number;
  readonly stream: number;
}

/** Start a stream of synthetic descriptors of dimension `dim` matching `stats`. */
export function syntheticDescriptors(
  stats: DescriptorStats,
  dim: number,
  seed: SyntheticSeed,
): DescriptorStream {
  if (!(Number.isInteger(dim) && dim >= 2)) throw new RangeError(`dim must be ≥ 2, got ${dim}`);
  const world = gaussianStream(0x5eed + seed.world);
  const rho = Math.max(0, stats.medianCosineBetweenClasses);
  const shared = normalise(Float64Array.from({ length: dim }, world));
  const centres = stats.classShares.map(() => {
    const own = normalise(Float64Array.from({ length: dim }, world));
    return normalise(shared.map((v, j) => Math.sqrt(rho) * v + Math.sqrt(1 - rho) * own[j]!));
  });
  const sd = noiseScales(stats.spectrum, dim);
  const scale = solveScale(centres[0]!, sd, stats.medianCosineToClass, 0x5ca1e + seed.world);
  const cumulative: Array<number> = [];
  stats.classShares.reduce((sum, share) => {
    cumulative.push(sum + share);
    return sum + share;
  }, 0);
  const q = stats.logNormQuantiles;
  const random = mulberry32(seed.stream);
  const gauss = gaussianStream(seed.stream ^ 0x9e3779b9);
  const u = new Float64Array(dim);
  return {
    dim,
    noiseScale: scale,
    fill: (target, rows, classes) => {
      for (let i = 0; i < rows; i++) {
        const pick = random() * cumulative.at(-1)!;
        let c = 0;
        while (c < cumulative.length - 1 && cumulative[c]! <= pick) c++;
        if (classes !== undefined) classes[i] = c;
        const centre = centres[c]!;
        let n2 = 0;
        for (let j = 0; j < dim; j++) {
          u[j] = centre[j]! + scale * sd[j]! * gauss();
          n2 += u[j]! * u[j]!;
        }
        const at = random() * (q.length - 1);
        const k = Math.min(q.length - 2, Math.floor(at));
        const norm = 10 ** (q[k]! + (at - k) * (q[k + 1]! - q[k]!));
        const factor = norm / Math.sqrt(n2);
        for (let j = 0; j < dim; j++) target[i * dim + j] = u[j]! * factor;
      }
    },
  };
}

/** `rows` rows of a fresh stream, as a matrix, with their classes (small sets and tests). */
export function syntheticMatrix(
  stats: DescriptorStats,
  dim: number,
  rows: number,
  seed: SyntheticSeed,
): { readonly descriptors: Matrix; readonly classes: Uint8Array } {
  const data = new Float32Array(rows * dim);
  const classes = new Uint8Array(rows);
  syntheticDescriptors(stats, dim, seed).fill(data, rows, classes);
  return { descriptors: { rows, cols: dim, data }, classes };
}
