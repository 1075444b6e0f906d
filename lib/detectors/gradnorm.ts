/**
 * GradNorm (Huang et al., NeurIPS 2021; OpenOOD v1.5 `gradnorm`): score(x) = −‖∂KL(u ‖
 * softmax(z/T))/∂W_head‖₁, in closed form ‖h‖₁·‖p − 1/C‖₁/T (derivation and scale:
 * `docs/internals/detectors.md`). Default T = 1.
 *
 * @module
 */
import type { Matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { requirePositiveTemperature } from "./checks.ts";
import { pointwiseDetector } from "./pointwise.ts";
import { softmaxRow } from "./logits.ts";
import {
  baselineEntry,
  type Expect,
  optionDefaults,
  type OptionsMatch,
  PositiveNumber,
  withDefault,
} from "./entry.ts";
import { Schema } from "effect";

const GradNormOptionsSpec = Schema.Struct({ temperature: withDefault(PositiveNumber, 1) });

/** Options of {@link gradNorm}. */
export interface GradNormOptions {
  /** Softmax temperature T (default 1). */
  readonly temperature?: number;
}
type _Checked = Expect<OptionsMatch<GradNormOptions, typeof GradNormOptionsSpec>>;
const GRADNORM_DEFAULTS = optionDefaults(GradNormOptionsSpec);

/** ‖∂KL(u ‖ softmax(z/T))/∂K‖₁ = ‖h‖₁ · ‖softmax(z/T) − 1/C‖₁ / T for every row. */
export function gradNorms(penultimate: Matrix, logits: Matrix, temperature = 1): Float64Array {
  const { rows, cols: d } = penultimate;
  const c = logits.cols;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let hNorm = 0;
    for (let k = 0; k < d; k++) hNorm += Math.abs(penultimate.data[i * d + k]!);
    const p = softmaxRow(logits.data, i * c, c, temperature);
    let pNorm = 0;
    for (let j = 0; j < c; j++) pNorm += Math.abs(p[j]! - 1 / c);
    out[i] = hNorm * pNorm / temperature;
  }
  return out;
}

/** The GradNorm detector: −‖∂KL(u ‖ softmax)/∂W_head‖₁. */
export function gradNorm(options: GradNormOptions = {}): Detector {
  const name = "GradNorm";
  const { temperature } = { ...GRADNORM_DEFAULTS, ...options };
  return pointwiseDetector({
    name,
    description: "GradNorm: −L1 norm of the head-weight gradient of KL(uniform ‖ softmax(z/T)), " +
      `T = ${temperature}, in closed form ‖h‖₁·‖p − 1/C‖₁ (Huang et al., NeurIPS 2021)`,
    settings: { temperature, scale: "KL (reference code: × C)" },
    readsPenultimate: true,
    check: requirePositiveTemperature(name, temperature),
    score: (features) =>
      Float64Array.from(
        gradNorms(features.penultimate, features.logits, temperature),
        (norm) => -norm,
      ),
  });
}

export const gradNormEntry = baselineEntry(gradNorm, {
  kind: "gradnorm",
  title: "GradNorm",
  source: "Huang et al., NeurIPS 2021; OpenOOD `gradnorm`",
  options: GradNormOptionsSpec,
});
