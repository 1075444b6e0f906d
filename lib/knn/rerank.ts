/**
 * What every index shares: the checks of its points, options and a search's inputs, and the
 * exact float64 re-ranking of candidates (the distances every index returns).
 *
 * @module
 */
import { Effect } from "effect";
import { squaredDistance } from "../distance.ts";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import {
  DimensionMismatch,
  IndexTooSmall,
  InvalidNeighbourCount,
  NonFiniteVector,
  type SearchError,
} from "./errors.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** Extra candidates the kernel keeps per query (k + 3) before the float64 re-ranking. */
export const EXTRA_CANDIDATES = 3;

/** Row of the first non-finite value, or -1. */
export function firstNonFiniteRow(m: Matrix): number {
  const { data, cols } = m;
  for (let i = 0; i < data.length; i++) {
    // x - x is NaN exactly when x is NaN or ±Infinity; cheaper than Number.isFinite per value.
    if (data[i]! - data[i]! !== 0) return cols === 0 ? 0 : Math.floor(i / cols);
  }
  return -1;
}

/**
 * Unless `m` holds its rows × cols values, the `InvalidParameter` naming it (a literal `Matrix`
 * may hold fewer: missing values would read as NaN, a missing query row as distance 0).
 */
function missingValues(
  index: string,
  what: "point" | "query",
  m: Matrix,
): InvalidParameter | undefined {
  const whole = Number.isSafeInteger(m.rows) && m.rows >= 0 && Number.isSafeInteger(m.cols) &&
    m.cols >= 0 && Number.isSafeInteger(m.rows * m.cols);
  if (whole && m.data.length >= m.rows * m.cols) return undefined;
  return new InvalidParameter({
    name: `${index}: the values of its ${what} matrix (${m.rows}×${m.cols})`,
    value: m.data.length,
    expected: whole ? `${m.rows * m.cols} (rows × cols)` : "whole numbers of rows and columns",
  });
}

/**
 * The points of an index to build hold their rows × cols values ({@link missingValues}), all
 * finite (a `NonFiniteVector` names the first bad row, counted from `firstRow`).
 */
export const checkFinitePoints = (
  index: string,
  points: Matrix,
  firstRow = 0,
): Effect.Effect<void, InvalidParameter | NonFiniteVector> => {
  const missing = missingValues(index, "point", points);
  if (missing !== undefined) return Effect.fail(missing);
  const bad = firstNonFiniteRow(points);
  return bad < 0
    ? Effect.void
    : Effect.fail(new NonFiniteVector({ index, what: "point", row: firstRow + bad }));
};

/** `value` is a whole number ≥ `min`, else an `InvalidParameter` naming it `name`. */
export const wholeAtLeast = (
  name: string,
  value: number,
  min: number,
): Effect.Effect<void, InvalidParameter> =>
  Number.isSafeInteger(value) && value >= min
    ? Effect.void
    : Effect.fail(new InvalidParameter({ name, value, expected: `a whole number ≥ ${min}` }));

/** `value` is a recall target in (0, 1], else an `InvalidParameter` naming it `name`. */
export const recallTargetIn = (
  name: string,
  value: number,
): Effect.Effect<void, InvalidParameter> =>
  value > 0 && value <= 1
    ? Effect.void
    : Effect.fail(new InvalidParameter({ name, value, expected: "a number in (0, 1]" }));

/** A search's k and queries fit `index`, else the typed error naming what is wrong. */
export const checkSearch = (
  index: NearestNeighbourIndex,
  queries: Matrix,
  k: number,
): Effect.Effect<void, SearchError> =>
  Effect.gen(function* () {
    const name = index.name;
    if (!Number.isInteger(k) || k < 1) return yield* new InvalidNeighbourCount({ index: name, k });
    const missing = missingValues(name, "query", queries);
    if (missing !== undefined) return yield* missing;
    if (k > index.size) return yield* new IndexTooSmall({ index: name, size: index.size, k });
    const { dim } = index;
    if (queries.cols !== dim) {
      return yield* new DimensionMismatch({ index: name, expected: dim, actual: queries.cols });
    }
    const bad = firstNonFiniteRow(queries);
    if (bad >= 0) return yield* new NonFiniteVector({ index: name, what: "query", row: bad });
  });

/**
 * Write the k nearest of `candidates` (point indices, -1 = none) into row `qi` of the output,
 * ranked by exact float64 distance then index. False if fewer than k valid candidates.
 */
export function writeReranked(
  queries: Matrix,
  qi: number,
  points: Matrix,
  candidates: ArrayLike<number>,
  k: number,
  out: { distances: Float64Array; indices: Int32Array },
): boolean {
  const d = points.cols;
  const ranked: Array<{ d2: number; i: number }> = [];
  for (let c = 0; c < candidates.length; c++) {
    const i = candidates[c]!;
    if (i >= 0) {
      ranked.push({ d2: squaredDistance(queries.data, qi * d, points.data, i * d, d), i });
    }
  }
  if (ranked.length < k) return false;
  ranked.sort((a, b) => a.d2 - b.d2 || a.i - b.i);
  for (let r = 0; r < k; r++) {
    out.distances[qi * k + r] = Math.sqrt(ranked[r]!.d2);
    out.indices[qi * k + r] = ranked[r]!.i;
  }
  return true;
}

/** Plain float64 brute force for one query: the reference path and the rare fallback. */
export function bruteForceRow(
  queries: Matrix,
  qi: number,
  points: Matrix,
  k: number,
  out: { distances: Float64Array; indices: Int32Array },
): void {
  const all = Int32Array.from({ length: points.rows }, (_, i) => i);
  writeReranked(queries, qi, points, all, k, out);
}

const byId = (id: number): number => id;

/**
 * Offer `(v, id)` to one query's best candidates, `values` and `ids` over [base, base + m),
 * kept sorted by (value, then `rank(id)`; id −1 = empty): it enters only if it comes before the
 * last, so the candidates are the m smallest whatever order they are offered in.
 */
export function offer(
  values: Float64Array,
  ids: Int32Array,
  base: number,
  m: number,
  v: number,
  id: number,
  rank: (id: number) => number = byId,
): void {
  const last = base + m - 1;
  if (v > values[last]! || !(v <= values[last]!)) return; // also skips NaN
  // An equal value enters only before a candidate of higher rank.
  if (v === values[last] && (ids[last]! < 0 || rank(id) > rank(ids[last]!))) return;
  let s = last;
  while (
    s > base && (values[s - 1]! > v || (values[s - 1] === v && rank(ids[s - 1]!) > rank(id)))
  ) {
    values[s] = values[s - 1]!;
    ids[s] = ids[s - 1]!;
    s--;
  }
  values[s] = v;
  ids[s] = id;
}
