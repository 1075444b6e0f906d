/**
 * A search breadth calibrated by measurement: the smallest value on a ladder whose recall@1
 * against exact search reaches a target on held-out points (HNSW's efSearch: the graph is built
 * without a seeded sample, measured on it, then the sample is added; IVF's nprobe likewise,
 * {@link chooseEfSearch} walking its ladder). Why held out: docs/internals/knn.md. And
 * {@link recallAtK}, which compares any approximate search with an exact one.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import { permutation } from "../random.ts";
import { recallTargetIn, wholeAtLeast } from "./rerank.ts";
import type { Neighbours } from "./types.ts";

/** The efSearch values tried, ascending (the first whose recall reaches the target wins). */
export const EF_LADDER: ReadonlyArray<number> = [16, 24, 32, 48, 64, 96, 128, 200, 256, 384, 512];

/** Calibration defaults: the recall@1 target and the held-out sample's size. */
export const CALIBRATION_DEFAULTS = { recallTarget: 0.995, sample: 1000 } as const;

/** How to calibrate efSearch (missing fields: {@link CALIBRATION_DEFAULTS}, {@link EF_LADDER}). */
export interface EfCalibrationOptions {
  /** recall@1 against exact search the chosen efSearch must reach on the sample. */
  readonly recallTarget?: number;
  /** Held-out points (at most a tenth of the points are held out). */
  readonly sample?: number;
  /** Candidate efSearch values, ascending whole numbers ≥ 1. */
  readonly ladder?: ReadonlyArray<number>;
}

/** What a calibration measured (kept on the index and in GROOD's settings). */
export interface EfCalibration {
  /** The recall@1 target. */
  readonly recallTarget: number;
  /** Held-out points used as queries. */
  readonly sample: number;
  /** The chosen efSearch: the first ladder value reaching the target, else the last tried. */
  readonly efSearch: number;
  /** Its recall@1 on the sample. */
  readonly recall1: number;
  /** Whether the chosen efSearch reached the target. */
  readonly met: boolean;
  /** Every value tried, in order, with its recall@1 on the sample. */
  readonly tried: ReadonlyArray<{ readonly efSearch: number; readonly recall1: number }>;
}

/** How a calibration chose the setting `name`, as an index's settings show it (`…Calibrated`…). */
export const calibrationReport = (
  name: string,
  c: EfCalibration | undefined,
): Record<string, number | boolean> =>
  c === undefined ? {} : {
    [`${name}Calibrated`]: true,
    [`${name}RecallTarget`]: c.recallTarget,
    [`${name}Recall1`]: c.recall1,
    [`${name}Sample`]: c.sample,
    [`${name}TargetMet`]: c.met,
  };

/** The options with defaults, checked (a typed error names the bad one). */
export const calibrationSettings = (
  options: EfCalibrationOptions,
): Effect.Effect<Required<EfCalibrationOptions>, InvalidParameter> =>
  Effect.gen(function* () {
    const recallTarget = options.recallTarget ?? CALIBRATION_DEFAULTS.recallTarget;
    const sample = options.sample ?? CALIBRATION_DEFAULTS.sample;
    const ladder = options.ladder ?? EF_LADDER;
    yield* recallTargetIn("HNSW recallTarget", recallTarget);
    yield* wholeAtLeast("HNSW calibration sample", sample, 1);
    // Whole numbers, each above the one before (the first above 0).
    const ascending = ladder.length > 0 &&
      ladder.every((ef, i) => Number.isSafeInteger(ef) && ef > (ladder[i - 1] ?? 0));
    if (!ascending) {
      return yield* new InvalidParameter({
        name: "HNSW efSearch ladder",
        value: ladder.join(", "),
        expected: "whole numbers ≥ 1, strictly ascending, at least one",
      });
    }
    return { recallTarget, sample, ladder };
  });

/** The held-out rows of an `n`-point calibration: `min(sample, ⌊n / 10⌋)` seeded rows, sorted. */
export function heldOutRows(n: number, sample: number, seed: number): Int32Array {
  const size = Math.min(sample, Math.floor(n / 10));
  return Int32Array.from(permutation(n, seed).subarray(0, size)).sort();
}

/**
 * Pick a search breadth: walk `ladder` up, measuring recall@1 of `nearestAt(ef)` (each query's
 * nearest row at that breadth) against `truth`, and stop at the first reaching `recallTarget`.
 */
export const chooseEfSearch = <E>(
  truth: Int32Array,
  nearestAt: (efSearch: number) => Effect.Effect<ArrayLike<number>, E>,
  settings: { readonly ladder: ReadonlyArray<number>; readonly recallTarget: number },
): Effect.Effect<EfCalibration, E> =>
  Effect.gen(function* () {
    const { ladder, recallTarget } = settings;
    const n = truth.length;
    const tried: Array<{ efSearch: number; recall1: number }> = [];
    for (const efSearch of ladder) {
      const found = yield* nearestAt(efSearch);
      let hits = 0;
      for (let q = 0; q < n; q++) if (found[q] === truth[q]) hits++;
      const recall1 = n === 0 ? 1 : hits / n;
      tried.push({ efSearch, recall1 });
      if (recall1 >= recallTarget) break;
    }
    const { efSearch, recall1 } = tried[tried.length - 1]!;
    return { recallTarget, sample: n, efSearch, recall1, met: recall1 >= recallTarget, tried };
  });

/**
 * Recall@k of an approximate search against an exact one: the mean share of each query's exact
 * k neighbours found among its approximate k (`k`: by default the smaller of the two). Throws
 * RangeError if the row counts differ (a programming error).
 *
 * @example
 * ```ts
 * import { recallAtK } from "./calibrate.ts";
 * const exact = { rows: 2, k: 1, distances: new Float64Array(2), indices: Int32Array.of(4, 7) };
 * const approx = { ...exact, indices: Int32Array.of(4, 9) };
 * if (recallAtK(approx, exact) !== 0.5) throw new Error("wrong recall");
 * ```
 */
export function recallAtK(
  approx: Neighbours,
  exact: Neighbours,
  k = Math.min(approx.k, exact.k),
): number {
  if (approx.rows !== exact.rows) {
    throw new RangeError(`Cannot compare ${approx.rows} with ${exact.rows} query rows`);
  }
  if (approx.rows === 0) return 1;
  let hits = 0;
  for (let q = 0; q < exact.rows; q++) {
    const found = new Set(approx.indices.subarray(q * approx.k, q * approx.k + k));
    for (let r = 0; r < k; r++) if (found.has(exact.indices[q * exact.k + r]!)) hits++;
  }
  return hits / (exact.rows * k);
}
