/**
 * The small dense linear algebra of Mahalanobis, RMDS and ViM, in float64 on row-major arrays:
 * a Jacobi eigen-decomposition (D = 64: milliseconds, machine precision) and the pseudo-inverse of
 * a possibly singular covariance (dead ReLU features) as `scipy.linalg.pinvh` computes it.
 *
 * @module
 */
import { squaredDistance } from "../distance.ts";
import type { Matrix } from "../matrix.ts";

/** Eigenvalues (descending) and eigenvectors (column k of `vectors` belongs to `values[k]`). */
export interface SymmetricEigen {
  /** The matrix order n (`values` has n entries). */
  readonly size: number;
  /** The n eigenvalues, descending. */
  readonly values: Float64Array;
  /** n × n, row-major; column k is the unit eigenvector of `values[k]`. */
  readonly vectors: Float64Array;
}

/** a[at(k)], a[to(k)] ← c·a[at(k)] − s·a[to(k)], s·a[at(k)] + c·a[to(k)] for k < n. */
function rotate(
  a: Float64Array,
  n: number,
  c: number,
  s: number,
  at: (k: number) => number,
  to: (k: number) => number,
): void {
  for (let k = 0; k < n; k++) {
    const x = a[at(k)]!;
    const y = a[to(k)]!;
    a[at(k)] = c * x - s * y;
    a[to(k)] = s * x + c * y;
  }
}

/**
 * Eigen-decomposition of a symmetric n × n matrix by the cyclic Jacobi method (Golub & Van
 * Loan, Matrix Computations, §8.5: rotations from `sym.schur2`), sorted by descending
 * eigenvalue. Only symmetric input is meaningful; the input is not modified.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (a.length !== n * n) throw new RangeError(`Cannot decompose ${a.length} values as ${n}×${n}`);
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += m[i]! * m[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    // Converged when the off-diagonal mass is at rounding level relative to the whole matrix.
    if (off <= 1e-32 * total) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const tau = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        // The smaller root of t² + 2τt − 1 = 0 keeps the rotation angle ≤ π/4 (stable).
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        // M ← Jᵀ M J and V ← V J with J the (p, q) rotation [[c, s], [−s, c]].
        rotate(m, n, c, s, (k) => k * n + p, (k) => k * n + q);
        rotate(m, n, c, s, (k) => p * n + k, (k) => q * n + k);
        rotate(v, n, c, s, (k) => k * n + p, (k) => k * n + q);
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) =>
    m[j * n + j]! - m[i * n + i]!
  );
  const values = Float64Array.from(order, (i) => m[i * n + i]!);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    for (let k = 0; k < n; k++) vectors[k * n + to] = v[k * n + from]!;
  });
  return { size: n, values, vectors };
}

/**
 * (1/N) Σᵢ cᵢcᵢᵀ (D × D, float64) with cᵢ = row i of `features` minus the D-vector of `centres`
 * at `centreAt(i)`: the upper triangle summed, then mirrored.
 */
export function meanOuterProduct(
  features: Matrix,
  centres: Float64Array,
  centreAt: (row: number) => number,
): Float64Array {
  const { rows: n, cols: d, data } = features;
  const out = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const at = centreAt(i);
    for (let k = 0; k < d; k++) centred[k] = data[i * d + k]! - centres[at + k]!;
    for (let a = 0; a < d; a++) {
      const ca = centred[a]!;
      if (ca === 0) continue;
      for (let b = a; b < d; b++) out[a * d + b]! += ca * centred[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const value = out[a * d + b]! / n;
      out[a * d + b] = value;
      out[b * d + a] = value;
    }
  }
  return out;
}

/**
 * The eigenvalues `pinvh` treats as zero: |λ| ≤ n · ε₆₄ · max|λ| (scipy.linalg.pinvh's default
 * cutoff), so exactly-dead feature directions drop out instead of getting a huge precision.
 */
export function pseudoInverseCutoff(values: Float64Array): number {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, Math.abs(value));
  return values.length * Number.EPSILON * largest;
}

/** An n × `rank` whitening factor L (row-major): see {@link pseudoInverseFactor}. */
export interface Whitening {
  readonly rank: number;
  readonly factor: Float64Array;
}

/**
 * Whitening factor of the pseudo-inverse of a symmetric positive semi-definite matrix: an
 * n × r matrix L (row-major) with L·Lᵀ = pinv(A), built from the r eigenpairs above
 * {@link pseudoInverseCutoff}: column k of L is v_k / √λ_k. Then xᵀ pinv(A) x = ‖Lᵀx‖².
 */
export function pseudoInverseFactor(a: Float64Array, n: number): Whitening {
  const { values, vectors } = symmetricEigen(a, n);
  const cutoff = pseudoInverseCutoff(values);
  const kept: Array<number> = [];
  for (let k = 0; k < n; k++) if (values[k]! > cutoff) kept.push(k);
  const rank = kept.length;
  const factor = new Float64Array(n * rank);
  kept.forEach((k, column) => {
    const scale = 1 / Math.sqrt(values[k]!);
    for (let i = 0; i < n; i++) factor[i * rank + column] = vectors[i * n + k]! * scale;
  });
  return { rank, factor };
}

/** pinv of a symmetric matrix (like `scipy.linalg.pinvh`): Σ_{|λ|>cutoff} v vᵀ / λ. */
export function pseudoInverseSymmetric(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const cutoff = pseudoInverseCutoff(values);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const lambda = values[k]!;
    if (Math.abs(lambda) <= cutoff) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k]! / lambda;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += vik * vectors[j * n + k]!;
    }
  }
  return out;
}

/** ‖Lᵀ(h − μ)‖² for every row and every mean (C × D) → N × C, with L the whitening factor. */
export function whitenedDistances(
  features: Matrix,
  means: Float64Array,
  numMeans: number,
  { factor, rank }: Whitening,
): Float64Array {
  const { rows: n, cols: d, data } = features;
  const whiteMeans = new Float64Array(numMeans * rank);
  for (let c = 0; c < numMeans; c++) {
    for (let k = 0; k < d; k++) {
      const mu = means[c * d + k]!;
      for (let r = 0; r < rank; r++) whiteMeans[c * rank + r]! += mu * factor[k * rank + r]!;
    }
  }
  const out = new Float64Array(n * numMeans);
  const white = new Float64Array(rank);
  for (let i = 0; i < n; i++) {
    white.fill(0);
    for (let k = 0; k < d; k++) {
      const h = data[i * d + k]!;
      if (h === 0) continue;
      for (let r = 0; r < rank; r++) white[r]! += h * factor[k * rank + r]!;
    }
    for (let c = 0; c < numMeans; c++) {
      out[i * numMeans + c] = squaredDistance(white, 0, whiteMeans, c * rank, rank);
    }
  }
  return out;
}

/** min over the means of ‖Lᵀ(h − μ)‖² for every row (see {@link whitenedDistances}). */
export function nearestWhitenedDistance(
  features: Matrix,
  means: Float64Array,
  numMeans: number,
  whitening: Whitening,
): Float64Array {
  const all = whitenedDistances(features, means, numMeans, whitening);
  return Float64Array.from({ length: features.rows }, (_, i) => {
    let best = Infinity;
    for (let c = 0; c < numMeans; c++) best = Math.min(best, all[i * numMeans + c]!);
    return best;
  });
}
