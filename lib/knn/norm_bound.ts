/**
 * The norm bound that lets the exact index skip point blocks without changing its result.
 *
 * The kernel (`simd_kernel.ts`) computes, for a centred float32 query q and point p,
 *   v̂ = fl32( pn − 2·fl32(q·p) ),  pn = fl32(‖p‖²),
 * the squared distance minus ‖q‖² (which ranking does not need). The exact index keeps, per
 * query, the m = k + 3 smallest v̂ (ties: lower point index) and re-ranks them in float64. A
 * point block may be skipped for a query if no point in it can have v̂ below the query's
 * current m-th candidate: then the candidate set, and so the result, is the one a full scan
 * gives, bit for bit. This module bounds v̂ from below by norms only.
 *
 * **Exact lower bound.** With a = ‖p‖, r = ‖q‖, A = a², B = 2ra, the true value is
 * v = ‖q − p‖² − ‖q‖² ≥ (r − a)² − r² = A − B (Cauchy–Schwarz: q·p ≤ ra).
 *
 * **Float32 error of the kernel.** u = 2⁻²⁴, γₙ = nu / (1 − nu). The kernel multiplies and adds
 * in separate IEEE float32 operations (WebAssembly's f32x4.mul / f32x4.add: round to nearest,
 * no fused multiply-add, subnormals kept), accumulating the d products in order. Then
 * - the dot product: |fl(q·p) − q·p| ≤ γ_d Σ|qⱼpⱼ| + d·2⁻¹⁴⁹(1 + γ_d) (the standard bound for
 *   recursive summation; 2⁻¹⁴⁹ bounds each product's absolute underflow error; doubling it is
 *   exact), and Σ|qⱼpⱼ| ≤ ra (Cauchy–Schwarz again), so twice it errs by at most
 *   γ_d·B + 2d·2⁻¹⁴⁹·(1 + γ_d);
 * - the norm: pn is ‖p‖² summed in float64 (relative error ≤ γ'_d = d·2⁻⁵³ / (1 − d·2⁻⁵³)),
 *   then rounded to float32: |pn − A| ≤ (u + 2γ'_d)A + 2⁻¹⁵⁰;
 * - the final subtraction adds one rounding, u·|pn − 2 fl(q·p)| ≤ u(A + B)(1 + γ_d) (exact when
 *   the result is subnormal).
 * Summing: |v̂ − v| ≤ γ_{d+2}(A + B) + (2d + 2)·2⁻¹⁴⁹, so
 *   v̂ ≥ (1 − γ)A − (1 + γ)B − η,   γ = γ_{d+2}, η = (2d + 2)·2⁻¹⁴⁹.
 * This holds while nothing overflows: {@link pruningIsSafe} requires (A + B)(1 + 2γ) < 2¹²⁷ for
 * the largest norms, so every partial sum, pn and v̂ stay finite (otherwise v̂ could be −∞,
 * below any bound, and the index scans every block).
 *
 * **The margin used.** The bound is evaluated in float64 from norms computed in float64, whose
 * rounding errors are below γ₆₄ₙ (A + B) with n ≈ 2d + 16, about 2⁻²⁹ times γ. The margin used is
 * twice the float32 one, c = 2γ and 2η, which absorbs them with room to spare:
 *   L(a, r) = (1 − c)a² − 2(1 + c)ra − 2η ≤ v̂ for every point of norm a and query of norm r.
 * For d = 64, c = 2γ₆₆ ≈ 7.9·10⁻⁶: the bound is |‖q‖ − ‖p‖|² − ‖q‖² up to a relative 10⁻⁵.
 * A skipped point has v̂ ≥ L > the m-th candidate, strictly, so it could not have entered the
 * candidate list of a full scan either (which inserts only strictly smaller values, or equal
 * values with a lower index: "strictly greater" rules out both).
 *
 * @module
 */

const UNIT_ROUNDOFF = 2 ** -24;
/** Below float32's largest finite value (≈ 2¹²⁸) with a factor 2 to spare. */
const OVERFLOW_LIMIT = 2 ** 127;

/** The float32 pruning margin of the kernel for dimension `d` (see the module doc). */
export interface PruningMargin {
  /** Relative margin c = 2γ_{d+2}. */
  readonly relative: number;
  /** Absolute margin 2η = 2(2d + 2)·2⁻¹⁴⁹ (underflow). */
  readonly absolute: number;
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
  return { relative: 2 * gamma, absolute: 2 * (2 * d + 2) * 2 ** -149 };
}

/**
 * Whether the bound holds for queries of norm ≤ `maxQueryNorm` against points of norm ≤
 * `maxPointNorm`: no float32 overflow is possible in the kernel. False for non-finite norms.
 */
export function pruningIsSafe(
  maxQueryNorm: number,
  maxPointNorm: number,
  margin: PruningMargin,
): boolean {
  const worst = (maxPointNorm * maxPointNorm + 2 * maxQueryNorm * maxPointNorm) *
    (1 + margin.relative);
  return worst < OVERFLOW_LIMIT; // false for NaN and Infinity
}

/**
 * A lower bound on the kernel's value v̂ for a query of norm `r` and every point whose norm
 * lies in [`aLow`, `aHigh`]: the minimum of L(a, r) = (1 − c)a² − 2(1 + c)ra − 2η over the
 * interval (L is a convex parabola in a with its vertex at r(1 + c)/(1 − c)).
 *
 * @example
 * ```ts
 * import { lowerBound, pruningMargin } from "./norm_bound.ts";
 * const margin = pruningMargin(2);
 * // Query of norm 1, points of norm 3 to 4: ‖q − p‖² − ‖q‖² ≥ (3 − 1)² − 1 = 3.
 * const bound = lowerBound(1, 3, 4, margin);
 * if (!(bound < 3 && bound > 3 - 1e-5)) throw new Error("wrong bound");
 * ```
 */
export function lowerBound(r: number, aLow: number, aHigh: number, margin: PruningMargin): number {
  const c = margin.relative;
  const vertex = (r * (1 + c)) / (1 - c);
  const a = vertex < aLow ? aLow : vertex > aHigh ? aHigh : vertex;
  return (1 - c) * a * a - 2 * (1 + c) * r * a - margin.absolute;
}
