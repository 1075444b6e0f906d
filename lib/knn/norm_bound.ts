/**
 * The norm bound that lets the exact index skip point blocks without changing its result: a
 * lower bound, from norms only, on the kernel's own float32 value v̂ for every point of a block.
 * A skipped point has v̂ strictly above the query's m-th candidate, so a full scan would not have
 * kept it either. Proof: docs/internals/knn.md.
 *
 * @module
 */

const UNIT_ROUNDOFF = 2 ** -24;
/** Below float32's largest finite value (≈ 2¹²⁸) with a factor 2 to spare. */
const OVERFLOW_LIMIT = 2 ** 127;

/** The float32 pruning margin of the kernel for dimension `d` (docs/internals/knn.md). */
export interface PruningMargin {
  /** Kernel rounding, relative: c = 2γ_{d+2}. */
  readonly relative: number;
  /** Kernel underflow, absolute: 2η = 2(2d + 2)·2⁻¹⁴⁹. */
  readonly absolute: number;
  /** Centring to float32, relative to the centred norms: 2u(1 + 2⁻²⁸) / (1 − u). */
  readonly centring: number;
  /** Centring underflow, absolute: 2·2√d·2⁻¹⁵⁰. */
  readonly centringAbsolute: number;
  /** Float64 rounding of the raw norms, relative to them: 2γ′_{d+2}. */
  readonly norms: number;
  /** Float64 rounding of the bound's own evaluation, relative to its squares: (d + 8)·2⁻⁵⁰. */
  readonly evaluation: number;
}

/**
 * The margin of {@link lowerBound} for points of `d` columns.
 *
 * @example
 * ```ts
 * import { pruningMargin } from "./norm_bound.ts";
 * const { relative } = pruningMargin(64);
 * if (!(relative > 7.8e-6 && relative < 8e-6)) throw new Error("unexpected margin");
 * ```
 */
export function pruningMargin(d: number): PruningMargin {
  const n = d + 2;
  const gamma = (n * UNIT_ROUNDOFF) / (1 - n * UNIT_ROUNDOFF);
  const n64 = (d + 2) * 2 ** -53;
  return {
    relative: 2 * gamma,
    absolute: 2 * (2 * d + 2) * 2 ** -149,
    centring: (2 * UNIT_ROUNDOFF * (1 + 2 ** -28)) / (1 - UNIT_ROUNDOFF),
    centringAbsolute: 4 * Math.sqrt(d) * 2 ** -150,
    norms: (2 * n64) / (1 - n64),
    evaluation: (d + 8) * 2 ** -50,
  };
}

/** Whether no float32 overflow is possible in the kernel for these largest centred norms. */
export function pruningIsSafe(
  maxQueryNorm: number,
  maxPointNorm: number,
  margin: PruningMargin,
): boolean {
  const worst = (maxPointNorm * maxPointNorm + 2 * maxQueryNorm * maxPointNorm) *
    (1 + margin.relative);
  return worst < OVERFLOW_LIMIT; // false for NaN and Infinity
}

/** A query's norms (float64): ‖q‖ from the origin, ‖q̃‖ centred as the kernel sees it. */
export interface QueryNorms {
  readonly raw: number;
  readonly centred: number;
}

/** A block's smallest and largest raw norm ‖p‖, and its largest centred ‖p̃‖. */
export interface BlockNorms {
  readonly rawLow: number;
  readonly rawHigh: number;
  readonly centredHigh: number;
}

/**
 * A lower bound on the kernel's value v̂ for `query` against every point of `block`:
 * max(0, g − ε)² − r̃² − c(ã² + 2r̃ã) − 2η − s, g the gap between ‖q‖ and the block's norms.
 *
 * @example
 * ```ts
 * import { lowerBound, pruningMargin } from "./norm_bound.ts";
 * const margin = pruningMargin(2);
 * // Query of norm 1 (centred on 0), points of norm 3 to 4: ‖q − p‖² − ‖q‖² ≥ (3 − 1)² − 1 = 3.
 * const bound = lowerBound(
 *   { raw: 1, centred: 1 },
 *   { rawLow: 3, rawHigh: 4, centredHigh: 4 },
 *   margin,
 * );
 * if (!(bound < 3 && bound > 3 - 1e-4)) throw new Error("wrong bound");
 * ```
 */
export function lowerBound(query: QueryNorms, block: BlockNorms, margin: PruningMargin): number {
  const gap = Math.max(0, block.rawLow - query.raw, query.raw - block.rawHigh);
  const r = query.centred;
  const a = block.centredHigh;
  const epsilon = margin.centring * (r + a) + margin.norms * (query.raw + block.rawHigh) +
    margin.centringAbsolute;
  const t = Math.max(0, gap - epsilon);
  return t * t - r * r - margin.relative * (a * a + 2 * r * a) - margin.absolute -
    margin.evaluation * (t * t + r * r);
}
