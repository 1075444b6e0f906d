/**
 * GEN, generalized entropy (Liu, Lochman & Zach, "GEN: Pushing the Limits of Softmax-Based
 * Out-of-Distribution Detection", CVPR 2023), as OpenOOD v1.5's `gen` postprocessor.
 *
 * With p = softmax(z) and p₍₁₎ ≥ … the M largest probabilities,
 *   G_γ(p) = Σ_{j ≤ M} p₍ⱼ₎^γ (1 − p₍ⱼ₎)^γ,
 * and score(x) = G_γ(p) (OpenOOD's confidence is −G_γ; higher = more OOD here).
 *
 * Defaults (OpenOOD's `configs/postprocessors/gen.yml`): **M = 100** (so with C = 10 classes all
 * probabilities enter; M ≥ C for every value of OpenOOD's M grid, which is why only γ is tuned
 * here) and **γ tuned on validation data** over OpenOOD's grid [0.01, 0.1, 0.5, 1, 2, 5, 10]
 * (its `APS_mode: True`; 0.1 is its default when not tuning). Pass `gamma` to fix γ.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import { requireSetting, scoreChecked } from "./checks.ts";
import type { Detector, ExtractedSet, FittedDetector, TunedParameter } from "./detector.ts";
import { defineDetector, Grid, PositiveInt, PositiveNumber, withDefault } from "./entry.ts";
import { softmaxRow } from "./logits.ts";
import { tuneParameter } from "./tune.ts";

/** OpenOOD v1.5's γ grid for GEN. */
export const GEN_GAMMA_GRID: ReadonlyArray<number> = [0.01, 0.1, 0.5, 1, 2, 5, 10];

/** Options of {@link gen}. */
export interface GenOptions {
  /** A fixed γ; when absent, γ is tuned over `gammaGrid`. */
  readonly gamma?: number;
  readonly gammaGrid?: ReadonlyArray<number>;
  /** How many of the largest probabilities enter (default 100). */
  readonly topM?: number;
}

/** Σ over the M largest pⱼ of pⱼ^γ (1 − pⱼ)^γ, for every row of logits. */
export function generalizedEntropy(logits: Matrix, gamma: number, topM: number): Float32Array {
  const { rows, cols: c } = logits;
  const out = new Float32Array(rows);
  const m = Math.min(topM, c);
  for (let i = 0; i < rows; i++) {
    const p = softmaxRow(logits.data, i * c, c).sort();
    let sum = 0;
    for (let j = c - m; j < c; j++) sum += p[j]! ** gamma * (1 - p[j]!) ** gamma;
    out[i] = sum;
  }
  return out;
}

/** The GEN detector: generalized entropy of the softmax. */
export function gen(options: GenOptions = {}): Detector {
  const name = "GEN";
  const grid = options.gamma === undefined ? options.gammaGrid ?? GEN_GAMMA_GRID : [options.gamma];
  const topM = options.topM ?? 100;
  return {
    name,
    description: `GEN: generalized entropy Σ p^γ(1−p)^γ over the top ${topM} softmax ` +
      `probabilities, γ ${
        options.gamma === undefined ? "tuned on validation" : `= ${options.gamma}`
      } (Liu et al., CVPR 2023)`,
    fit: (inputs) =>
      Effect.gen(function* () {
        yield* requireSetting(
          grid.length > 0 && grid.every((g) => Number.isFinite(g) && g > 0),
          name,
          options.gamma === undefined ? "gammaGrid" : "gamma",
          options.gamma ?? grid,
          "positive numbers",
        );
        yield* requireSetting(Number.isInteger(topM) && topM >= 1, name, "topM", topM, "≥ 1");
        const classes = inputs.trainFeatures.logits.cols;
        const scoreAt = (gamma: number) => (set: ExtractedSet) =>
          scoreChecked(
            name,
            set,
            { classes },
            () => generalizedEntropy(set.features.logits, gamma, topM),
          );
        const tuned: Array<TunedParameter> = [];
        if (options.gamma === undefined) {
          tuned.push(
            yield* tuneParameter({
              detector: name,
              parameter: "gamma",
              grid,
              validation: inputs.validation,
              candidate: (gamma) => Effect.succeed({ score: scoreAt(gamma) }),
              ...(inputs.progress === undefined ? {} : { progress: inputs.progress }),
            }),
          );
        }
        const gamma = tuned[0]?.chosen ?? grid[0]!;
        const fitted: FittedDetector = {
          score: scoreAt(gamma),
          settings: { gamma, topM },
          tuned,
          dispose: () => {},
        };
        return fitted;
      }),
  };
}

/** Registration of {@link gen}. */
export const genEntry = defineDetector({
  kind: "gen",
  title: "GEN",
  family: "baseline",
  source: "Liu et al., CVPR 2023; OpenOOD `gen`",
  reproduce: true,
  options: Schema.Struct({
    gamma: Schema.optionalKey(PositiveNumber),
    gammaGrid: withDefault(Grid(PositiveNumber), [...GEN_GAMMA_GRID] as [number, ...number[]]),
    topM: withDefault(PositiveInt, 100),
  }),
  make: (options, name) => ({ ...gen(options), name }),
});
