/**
 * The norm bound that lets the exact index skip point blocks without changing its result.
 *
 * The exact index centres points and queries on the points' float64 mean μ and rounds them to
 * float32: p̃ = fl₃₂(p − μ), q̃ = fl₃₂(q − μ). Its kernel (`simd_kernel.ts`) computes
 *   v̂ = fl₃₂( pn − 2·fl₃₂(q̃·p̃) ),  pn = fl₃₂(‖p̃‖²),
 * the squared distance minus ‖q̃‖² (which ranking does not need), keeps per query the m = k + 3
 * smallest v̂ (ties: lower point index) and re-ranks them in float64. A point block may be
 * skipped for a query if no point in it can have v̂ below the query's current m-th candidate:
 * then the candidate set, and so the result, is the one a full scan gives, bit for bit. This
 * module bounds v̂ from below by norms only. Raw norms ‖p‖ (from the origin) sort the points:
 * for GROOD descriptors ‖p‖ = π_ood spreads over decades, while centring squeezes the small
 * ones together. Centred norms r̃ = ‖q̃‖, ã = ‖p̃‖ bound the rounding errors.
 *
 * **Exact part.** v = ‖q̃ − p̃‖² − r̃². With e = q̃ − (q − μ) the centring error,
 * ‖q̃ − p̃‖ ≥ ‖q − p‖ − ‖e_q‖ − ‖e_p‖ ≥ g − ε, where g ≤ |‖q‖ − ‖p‖| ≤ ‖q − p‖ is the gap between
 * ‖q‖ and the block's range of ‖p‖, and ε bounds the centring and norm errors:
 * - per coordinate, q − μ is rounded in float64 then to float32, so
 *   |eⱼ| ≤ u(1 + 2⁻²⁸)|qⱼ − μⱼ| + 2⁻¹⁵⁰ (u = 2⁻²⁴; the last term for subnormal results), hence
 *   ‖e_q‖ ≤ (u(1 + 2⁻²⁸) r̃ + √d·2⁻¹⁵⁰) / (1 − u);
 * - the raw norms are computed in float64 (d squares summed, a square root): relative error
 *   ≤ γ′ = (d + 2)·2⁻⁵³ / (1 − (d + 2)·2⁻⁵³), so the computed gap errs by ≤ γ′(‖q‖ + ‖p‖).
 * ε takes twice each of these (`PruningMargin.centring`, `.centringAbsolute`, `.norms`). So
 * v ≥ max(0, g − ε)² − r̃².
 *
 * **Float32 error of the kernel.** γₙ = nu / (1 − nu). The kernel multiplies and adds in
 * separate IEEE float32 operations (WebAssembly's f32x4.mul / f32x4.add: round to nearest, no
 * fused multiply-add, subnormals kept), accumulating the d products in order. With A = ã² and
 * B = 2r̃ã:
 * - the dot product: |fl(q̃·p̃) − q̃·p̃| ≤ γ_d Σ|q̃ⱼp̃ⱼ| + d·2⁻¹⁴⁹(1 + γ_d) (the standard bound for
 *   recursive summation; 2⁻¹⁴⁹ bounds each product's absolute underflow error; doubling it is
 *   exact), and Σ|q̃ⱼp̃ⱼ| ≤ r̃ã (Cauchy–Schwarz), so twice it errs by at most
 *   γ_d·B + 2d·2⁻¹⁴⁹·(1 + γ_d);
 * - the norm: pn is ‖p̃‖² summed in float64 (relative error ≤ γ′), then rounded to float32:
 *   |pn − A| ≤ (u + 2γ′)A + 2⁻¹⁵⁰;
 * - the final subtraction adds one rounding, u·|pn − 2 fl(q̃·p̃)| ≤ u(A + B)(1 + γ_d) (exact
 *   when the result is subnormal).
 * Summing: |v̂ − v| ≤ γ_{d+2}(A + B) + η, η = (2d + 2)·2⁻¹⁴⁹. This holds while nothing
 * overflows: {@link pruningIsSafe} requires (A + B)(1 + 2γ) < 2¹²⁷ for the largest centred
 * norms, so every partial sum, pn and v̂ stay finite (otherwise v̂ could be −∞, below any bound,
 * and the index scans every block).
 *
 * **The bound used.** Twice the kernel margin, c = 2γ_{d+2} and 2η (absorbing that r̃ and ã are
 * themselves float64 results, within γ′ ≈ 2⁻²⁹γ of the truth), and a slack s = (d + 8)·2⁻⁵⁰ ·
 * (t² + r̃²) for the float64 evaluation of the bound itself and of r̃²:
 *   L = t² − r̃² − c(ã² + 2r̃ã) − 2η − s,   t = max(0, g − ε),
 * with ã the block's largest centred norm (L falls as ã grows). Then v̂ ≥ L for every point of the
 * block. For d = 64, c = 2γ₆₆ ≈ 7.9·10⁻⁶ and ε ≈ 1.2·10⁻⁷(r̃ + ã): the bound is the gap of
 * norms squared minus ‖q̃‖², up to relative terms of 10⁻⁵. A skipped point has v̂ ≥ L > the m-th
 * candidate, strictly, so a full scan could not have kept it either (it keeps only strictly
 * smaller values, or equal values with a lower index: "strictly greater" rules out both).
 *
 * @module
 */

const UNIT_ROUNDOFF = 2 ** -24;
/** Below float32's largest finite value (≈ 2¹²⁸) with a factor 2 to spare. */
const OVERFLOW_LIMIT = 2 ** 127;

/** The float32 pruning margin of the kernel for dimension `d` (see the module doc). */
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

/** What {@link lowerBound} needs of a query: its norm from the origin and centred. */
export interface QueryNorms {
  /** ‖q‖ of the raw float32 query (from the origin), computed in float64. */
  readonly raw: number;
  /** ‖q̃‖ of the centred float32 query the kernel sees, computed in float64. */
  readonly centred: number;
}

/** What {@link lowerBound} needs of a block of points. */
export interface BlockNorms {
  /** Smallest and largest ‖p‖ (raw, from the origin) in the block. */
  readonly rawLow: number;
  readonly rawHigh: number;
  /** Largest ‖p̃‖ (centred, as the kernel sees it) in the block. */
  readonly centredHigh: number;
}

/**
 * A lower bound on the kernel's value v̂ for query `q` against every point of a block, from
 * norms only (see the module doc):
 *   max(0, g − ε)² − r̃² − c(ã² + 2r̃ã) − 2η − s,
 * with g the gap between ‖q‖ and the block's range of ‖p‖ (0 inside it), r̃ = ‖q̃‖, ã the
 * block's largest ‖p̃‖, ε the centring and norm rounding of `margin.centring`, and s a float64
 * evaluation slack.
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
