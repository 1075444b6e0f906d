/**
 * GradNorm (Huang, Geng & Li, "On the Importance of Gradients for Detecting Distributional
 * Shifts in the Wild", NeurIPS 2021): the L1 norm of the gradient, with respect to the weights
 * of the last layer, of the KL divergence between the uniform distribution u and the softmax
 * output at temperature T; larger for ID inputs, so score = −norm (higher = more OOD).
 *
 * Closed form (instead of one backward pass per image). With p = softmax(z/T), z = h·K + b
 * (K is D × C) and KL(u ‖ p) = Σ_c u_c log(u_c / p_c) = −(1/C) Σ_c log p_c − log C:
 *   ∂KL/∂z_j = (p_j − 1/C) / T   (since ∂(−Σ_c u_c log p_c)/∂(z_j/T) = p_j − u_j),
 *   ∂KL/∂K_{dj} = h_d (p_j − 1/C) / T,
 *   ‖∂KL/∂K‖₁ = Σ_d Σ_j |h_d| |p_j − 1/C| / T = ‖h‖₁ · ‖p − u‖₁ / T.
 * The bias gradient is left out, as in the reference code (it takes `fc.weight.grad`).
 * Scale: the reference code uses all-ones targets, −Σ_c log p_c = C·(KL + log C), whose
 * gradient norm is C times ours; a constant factor, so every ranking metric is identical.
 * The test checks this formula against `tf.grad`.
 *
 * Default **T = 1** (the paper's choice, OpenOOD v1.5's default).
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
  type OptionsOf,
  PositiveNumber,
  type SameFields,
  withDefault,
} from "./entry.ts";
import { Schema } from "effect";

/** GradNorm's options with their default: the softmax temperature T, 1. */
const GradNormOptionsSpec = Schema.Struct({ temperature: withDefault(PositiveNumber, 1) });

/** Options of {@link gradNorm}. */
export interface GradNormOptions {
  /** Softmax temperature T (default 1). */
  readonly temperature?: number;
}
// The interface is the Schema's fields, each optional: checked at compile time.
type _Checked = Expect<SameFields<GradNormOptions, OptionsOf<typeof GradNormOptionsSpec>>>;
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

/** Registration of {@link gradNorm}. */
export const gradNormEntry = baselineEntry(gradNorm, {
  kind: "gradnorm",
  title: "GradNorm",
  source: "Huang et al., NeurIPS 2021; OpenOOD `gradnorm`",
  options: GradNormOptionsSpec,
});
