/**
 * efSearch calibrated by measurement: the smallest search breadth on a ladder whose recall@1
 * against exact search reaches a target on held-out points. `hnswIndex` uses it when no
 * efSearch is given and `calibrate` is: it builds the graph over all points but a seeded
 * held-out sample, measures each ladder value on the sample (queries the graph has never
 * seen, like the descriptors it will score), then adds the sample, so every point is indexed.
 *
 * Why held out and not the indexed points themselves: a point in the graph is found through
 * its own links, so its neighbours come almost for free and the recall would flatter a small
 * efSearch.
 *
 * The IVF index calibrates nprobe the same way ({@link chooseEfSearch} walks its ladder too).
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import { permutation } from "../random.ts";
import { recallTargetIn, wholeAtLeast } from "./rerank.ts";

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

/**
 * How a calibration chose the setting `name` (`efSearch`, `nprobe`), as an index's settings
 * show it (`${name}Calibrated`, `…RecallTarget`, `…Recall1`, `…Sample`, `…TargetMet`); none
 * without a calibration.
 */
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
    const ascending = ladder.length > 0 &&
      ladder.every((ef, i) =>
        Number.isSafeInteger(ef) && ef >= 1 && (i === 0 || ef > ladder[i - 1]!)
      );
    if (!ascending) {
      return yield* new InvalidParameter({
        name: "HNSW efSearch ladder",
        value: ladder.join(", "),
        expected: "whole numbers ≥ 1, strictly ascending, at least one",
      });
    }
    return { recallTarget, sample, ladder };
  });

/**
 * The held-out rows of an `n`-point calibration: `min(sample, ⌊n / 10⌋)` rows drawn by a
 * seeded permutation, ascending (empty when n < 10: too few points to hold any out).
 */
export function heldOutRows(n: number, sample: number, seed: number): Int32Array {
  const size = Math.min(sample, Math.floor(n / 10));
  return Int32Array.from(permutation(n, seed).subarray(0, size)).sort();
}

/**
 * Pick a search breadth (HNSW's efSearch, IVF's nprobe): walk `ladder` up, measuring recall@1
 * of `nearestAt(ef)` (each query's nearest row found at that breadth) against `truth` (the
 * exact nearest row of each query), and stop at the first value reaching `recallTarget`.
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
    const last = tried[tried.length - 1]!;
    return {
      recallTarget,
      sample: n,
      efSearch: last.efSearch,
      recall1: last.recall1,
      met: last.recall1 >= recallTarget,
      tried,
    };
  });
