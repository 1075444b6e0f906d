/**
 * What ReAct, ASH, DICE and SCALE share: Energy −logsumexp(z̄) of z̄ = head(transform(h)) at
 * temperature 1; each detector's own file keeps only its transform.
 *
 * @module
 */
import { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import { requireSetting, scoreChecked } from "./checks.ts";
import {
  type ExtractedSet,
  type FitInputs,
  type FittedDetector,
  fittedDetector,
} from "./detector.ts";
import { applyHead, energyScores, type Head, readHead } from "./logits.ts";
import { tuneUnlessFixed } from "./tune.ts";

/** Energy scores of `head`'s logits of each set's `transform`ed penultimate features. */
const energyOf =
  (detector: string, head: Head, transform: (penultimate: Matrix) => Matrix) =>
  (set: ExtractedSet) =>
    scoreChecked(
      detector,
      set,
      { penultimate: head.inputSize },
      () => energyScores(applyHead(transform(set.features.penultimate), head)),
    );

/** A fitted detector scoring by the Energy of `head`'s logits of `transform`ed features. */
export const headEnergy = (
  detector: string,
  head: Head,
  transform: (penultimate: Matrix) => Matrix,
  settings: FittedDetector["settings"],
): FittedDetector =>
  fittedDetector({
    score: energyOf(detector, head, transform),
    settings: { ...settings, temperature: 1 },
  });

/** What {@link fitPercentileHeadEnergy} needs. */
export interface PercentileHeadEnergy {
  readonly detector: string;
  /** A fixed percentile; when absent, p is tuned over `grid` on validation data. */
  readonly percentile: number | undefined;
  readonly grid: ReadonlyArray<number>;
  /** The feature transform at percentile p (ASH's shaping, SCALE's scaling). */
  readonly transform: (penultimate: Matrix, p: number) => Matrix;
  /** The settings to record for the chosen p (`percentile` and `temperature` are added). */
  readonly settings: (p: number, head: Head) => FittedDetector["settings"];
}

/** Fit {@link headEnergy} over percentile-transformed features, p fixed or tuned (ASH, SCALE). */
export const fitPercentileHeadEnergy = (spec: PercentileHeadEnergy, inputs: FitInputs) =>
  Effect.gen(function* () {
    const { detector, percentile } = spec;
    const grid = percentile === undefined ? spec.grid : [percentile];
    yield* requireSetting(
      grid.length > 0 && grid.every((p) => Number.isFinite(p) && p >= 0 && p < 100),
      detector,
      percentile === undefined ? "percentileGrid" : "percentile",
      percentile ?? grid,
      "numbers in [0, 100)",
    );
    const head = yield* readHead(detector, inputs);
    const scoreAt = (p: number) => energyOf(detector, head, (h) => spec.transform(h, p));
    const { chosen: p, tuned } = yield* tuneUnlessFixed(percentile, {
      detector,
      parameter: "percentile",
      grid,
      validation: inputs.validation,
      candidate: (p) => Effect.succeed({ score: scoreAt(p) }),
    });
    return fittedDetector({
      score: scoreAt(p),
      settings: { ...spec.settings(p, head), percentile: p, temperature: 1 },
      tuned,
    });
  });
