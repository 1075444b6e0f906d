/**
 * A dense row-major float32 matrix: the plain value features, prototypes, descriptors and scores
 * travel in between stages (so each can be cached, exported and tested without tfjs).
 *
 * @module
 */

/** `rows × cols` float32 values, row-major. */
export interface Matrix {
  /** Number of rows. */
  readonly rows: number;
  /** Number of columns. */
  readonly cols: number;
  /** The `rows × cols` values, row-major (row r starts at `r × cols`). */
  readonly data: Float32Array;
}

/**
 * A matrix, checked to have `rows × cols` values (a Float32Array is taken as is, not copied).
 *
 * @example
 * ```ts
 * import { matrix, row } from "./matrix.ts";
 * const m = matrix(2, 2, [1, 2, 3, 4]);
 * if (row(m, 1)[0] !== 3) throw new Error("wrong row");
 * ```
 */
export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  const values = data === undefined
    ? new Float32Array(rows * cols)
    : data instanceof Float32Array
    ? data
    : Float32Array.from(data);
  if (values.length !== rows * cols) {
    throw new RangeError(`Cannot make a ${rows}x${cols} matrix from ${values.length} values`);
  }
  return { rows, cols, data: values };
}

/** Mean of the rows of `m` (float64 accumulation). */
export function meanRow(m: Matrix): Float32Array {
  const sums = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) sums[j]! += m.data[i * m.cols + j]!;
  }
  return Float32Array.from(sums, (s) => s / m.rows);
}

/** A view (no copy) of row `i`. */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Rows `indices` of `m`, copied into a new matrix. */
export function takeRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = new Float32Array(indices.length * m.cols);
  for (let i = 0; i < indices.length; i++) out.set(row(m, indices[i]!), i * m.cols);
  return { rows: indices.length, cols: m.cols, data: out };
}

/** Stack matrices with the same number of columns. */
export function concatRows(parts: ReadonlyArray<Matrix>): Matrix {
  const cols = parts[0]?.cols ?? 0;
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const out = new Float32Array(rows * cols);
  let offset = 0;
  for (const p of parts) {
    if (p.cols !== cols) {
      throw new RangeError(`Cannot stack matrices with ${cols} and ${p.cols} columns`);
    }
    out.set(p.data, offset);
    offset += p.data.length;
  }
  return { rows, cols, data: out };
}

/**
 * Float64 norms of the rows of a row-major float32 buffer, or, given `centre`, of the rows minus
 * `centre` rounded to float32 (as the exact search's kernel sees them).
 */
export function rowNorms(
  data: Float32Array,
  rows: number,
  d: number,
  centre?: Float64Array,
): Float64Array {
  const norms = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) {
      const v = centre === undefined
        ? data[i * d + j]!
        : Math.fround(data[i * d + j]! - centre[j]!);
      sum += v * v;
    }
    norms[i] = Math.sqrt(sum);
  }
  return norms;
}
