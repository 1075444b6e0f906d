/**
 * GEN, generalized entropy (Liu et al., CVPR 2023; OpenOOD v1.5 `gen`): score(x) = log Σ over the
 * M largest pⱼ of pⱼ^γ(1 − pⱼ)^γ, computed in log space in float64 (a direct evaluation underflows
 * and ties confident images). Defaults: M = 100, γ tuned on validation data unless given.
 * Details: `docs/internals/detectors.md`.
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
  type OptionsMatch,
  PositiveInt,
  PositiveNumber,
  withDefault,
} from "./entry.ts";
import { logSumExp } from "./logits.ts";
import { tuneUnlessFixed } from "./tune.ts";

/** OpenOOD v1.5's γ grid for GEN. */
export const GEN_GAMMA_GRID: ReadonlyArray<number> = [0.01, 0.1, 0.5, 1, 2, 5, 10];

const GenOptionsSpec = Schema.Struct({
  gamma: Schema.optionalKey(PositiveNumber),
  gammaGrid: withDefault(Grid(PositiveNumber), [...GEN_GAMMA_GRID] as [number, ...number[]]),
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
type _Checked = Expect<OptionsMatch<GenOptions, typeof GenOptionsSpec>>;
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

export const genEntry = baselineEntry(gen, {
  kind: "gen",
  title: "GEN",
  source: "Liu et al., CVPR 2023; OpenOOD `gen`",
  options: GenOptionsSpec,
});
