/**
 * GEN, generalized entropy (Liu, Lochman & Zach, "GEN: Pushing the Limits of Softmax-Based
 * Out-of-Distribution Detection", CVPR 2023), as OpenOOD v1.5's `gen` postprocessor.
 *
 * With p = softmax(z) and p₍₁₎ ≥ … the M largest probabilities,
 *   G_γ(p) = Σ_{j ≤ M} p₍ⱼ₎^γ (1 − p₍ⱼ₎)^γ,
 * and score(x) = **log** G_γ(p) (OpenOOD's confidence is −G_γ; higher = more OOD here; the log
 * is monotone, so every metric and every threshold decision equals G_γ's).
 *
 * Computed in log space, in float64: log pⱼ = zⱼ − logsumexp(z) and log(1 − pⱼ) =
 * log1p(−pⱼ) below ½, logsumexp(z without zⱼ) − logsumexp(z) above (no cancellation), so
 * log G_γ = logsumexp over the M largest pⱼ of γ·(log pⱼ + log(1 − pⱼ)). A direct evaluation
 * underflows: at γ = 10 on a confident softmax, G_γ is below float32's smallest subnormal
 * (1.4e-45) and, for logit gaps above about 75, below float64's (5e-324), so confident images
 * all tie at 0 and the tie block, not the maths, decides the tuned γ (the independent check
 * behind issue 28 found, on the seed-0 mnist model, 1,150 of 9,000 ID images and 1,720 of 1,908
 * textures at exactly 0 in float32). Here two images get equal scores only when their log G_γ
 * are equal in float64.
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
import { type Detector, type ExtractedSet, fittedDetector } from "./detector.ts";
import {
  baselineEntry,
  type Expect,
  Grid,
  optionDefaults,
  type OptionsOf,
  PositiveInt,
  PositiveNumber,
  type SameFields,
  withDefault,
} from "./entry.ts";
import { logSumExp } from "./logits.ts";
import { tuneUnlessFixed } from "./tune.ts";

/** OpenOOD v1.5's γ grid for GEN. */
export const GEN_GAMMA_GRID: ReadonlyArray<number> = [0.01, 0.1, 0.5, 1, 2, 5, 10];

/** GEN's options with their defaults. */
const GenOptionsSpec = Schema.Struct({
  /** A fixed γ; when absent, γ is tuned over `gammaGrid`. */
  gamma: Schema.optionalKey(PositiveNumber),
  gammaGrid: withDefault(Grid(PositiveNumber), [...GEN_GAMMA_GRID] as [number, ...number[]]),
  /** How many of the largest probabilities enter. */
  topM: withDefault(PositiveInt, 100),
});

/** Options of {@link gen}. */
export interface GenOptions {
  /** A fixed γ; when absent, γ is tuned over `gammaGrid`. */
  readonly gamma?: number;
  /** Values of γ tuned over when `gamma` is absent (default `GEN_GAMMA_GRID`). */
  readonly gammaGrid?: ReadonlyArray<number>;
  /** How many of the largest probabilities enter (default 100). */
  readonly topM?: number;
}
// The interface is the Schema's fields, each optional: checked at compile time.
type _Checked = Expect<SameFields<GenOptions, OptionsOf<typeof GenOptionsSpec>>>;
const GEN_DEFAULTS = optionDefaults(GenOptionsSpec);

/**
 * log Σ over the M largest pⱼ of pⱼ^γ (1 − pⱼ)^γ, for every row of logits, in log space
 * (see the module doc): no underflow, whatever the logit gaps.
 *
 * @example
 * ```ts
 * import { logGeneralizedEntropy } from "./gen.ts";
 * import { matrix } from "../matrix.ts";
 * // Two classes, equal logits: p = (½, ½), G₁ = 2 · ¼ = ½.
 * const [score] = logGeneralizedEntropy(matrix(1, 2, [3, 3]), 1, 100);
 * if (Math.abs(score! - Math.log(0.5)) > 1e-15) throw new Error("wrong");
 * ```
 */
export function logGeneralizedEntropy(
  logits: Matrix,
  gamma: number,
  topM: number,
): Float64Array {
  const { rows, cols: c } = logits;
  const out = new Float64Array(rows);
  const m = Math.min(topM, c);
  const z = new Float64Array(c);
  const others = new Float64Array(Math.max(c - 1, 0));
  const terms = new Float64Array(m);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < c; j++) z[j] = logits.data[i * c + j]!;
    // The M largest probabilities are those of the M largest logits.
    const order = Array.from({ length: c }, (_, j) => j).sort((a, b) => z[b]! - z[a]! || a - b);
    const lse = logSumExp(z);
    for (let r = 0; r < m; r++) {
      const j = order[r]!;
      const logP = z[j]! - lse;
      terms[r] = gamma * (logP + logOneMinus(z, j, logP, lse, others));
    }
    out[i] = logSumExp(terms);
  }
  return out;
}

/**
 * log(1 − pⱼ) to float64's last bits. Below p = ½, log1p(−p) is exact to rounding; at or above
 * it (only the largest probability can be there) 1 − p would cancel, so it is the
 * log-sum-exp of the other logits minus logsumexp(z). Per row that is one O(C) pass, not one
 * per term.
 */
function logOneMinus(
  z: Float64Array,
  j: number,
  logP: number,
  lse: number,
  others: Float64Array,
): number {
  if (logP < -Math.LN2) return Math.log1p(-Math.exp(logP));
  if (z.length === 1) return -Infinity;
  let o = 0;
  for (let k = 0; k < z.length; k++) if (k !== j) others[o++] = z[k]!;
  return logSumExp(others) - lse;
}

/** The GEN detector: generalized entropy of the softmax. */
export function gen(options: GenOptions = {}): Detector {
  const name = "GEN";
  const { gammaGrid, topM } = { ...GEN_DEFAULTS, ...options };
  const grid = options.gamma === undefined ? gammaGrid : [options.gamma];
  return {
    name,
    description: `GEN: log of the generalized entropy Σ p^γ(1−p)^γ over the top ${topM} ` +
      `softmax probabilities (in log space), γ ${
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
        const classes = inputs.train.features.logits.cols;
        const scoreAt = (gamma: number) => (set: ExtractedSet) =>
          scoreChecked(
            name,
            set,
            { classes },
            () => logGeneralizedEntropy(set.features.logits, gamma, topM),
          );
        const { chosen: gamma, tuned } = yield* tuneUnlessFixed(options.gamma, {
          detector: name,
          parameter: "gamma",
          grid,
          validation: inputs.validation,
          candidate: (gamma) => Effect.succeed({ score: scoreAt(gamma) }),
        });
        return fittedDetector({ score: scoreAt(gamma), settings: { gamma, topM }, tuned });
      }),
  };
}

/** Registration of {@link gen}. */
export const genEntry = baselineEntry(gen, {
  kind: "gen",
  title: "GEN",
  source: "Liu et al., CVPR 2023; OpenOOD `gen`",
  options: GenOptionsSpec,
});
