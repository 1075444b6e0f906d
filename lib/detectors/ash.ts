/**
 * ASH, activation shaping (Djurisic, Bozanic, Ashok & Liu, "Extremely Simple Activation
 * Shaping for Out-of-Distribution Detection", ICLR 2023), variant **ASH-S** on the penultimate
 * features, with the Energy score.
 *
 * Per sample, with n = D activations h:
 *   s1 = Σ h;  keep the k = n − round(n·p/100) largest activations, zero the rest (the lowest
 *   p%);  s2 = Σ of the kept activations;  h' = h_kept · exp(s1 / s2).
 * Then z' = h'·W + b and score(x) = −logsumexp(z') (Energy, T = 1; higher = more OOD).
 * This is the reference `ash_s` (top-k by `torch.topk`, `round` as numpy's) applied, as OpenOOD
 * v1.5 does, to the pooled feature. Ties at the k-th value keep the lower feature index.
 * If s2 = 0 (every kept activation is 0, so with ReLU features the whole vector is 0), the
 * pruned vector is used unscaled: the reference would divide 0 by 0.
 *
 * Default **p = 90** (OpenOOD v1.5's ASH setting and the paper's ASH-S@90 CIFAR result). With
 * D = 64 this keeps the k = 64 − round(57.6) = 6 largest activations.
 *
 * @module
 */
import { Effect } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { requirePercentile } from "./checks.ts";
import { headEnergy } from "./head_energy.ts";
import { readHead } from "./logits.ts";
import { defineDetector, Percentile, withDefault } from "./entry.ts";
import { Schema } from "effect";

/** Options of {@link ash}. */
export interface AshOptions {
  /** Pruning percentile p in [0, 100) (default 90). */
  readonly percentile?: number;
}

/** Number of activations ASH keeps out of `n` at percentile `p` (numpy round-half-even). */
export function ashKeptCount(n: number, p: number): number {
  const pruned = n * p / 100;
  // numpy rounds halves to even; Math.round rounds them up.
  const floor = Math.floor(pruned);
  const rounded = pruned - floor === 0.5
    ? (floor % 2 === 0 ? floor : floor + 1)
    : Math.round(pruned);
  return n - rounded;
}

/** ASH-S of every row: keep the top k, scale by exp(s1 / s2). */
export function ashS(features: Matrix, p: number): Matrix {
  const { rows, cols: n, data } = features;
  const k = ashKeptCount(n, p);
  const out = new Float32Array(rows * n);
  const order = new Array<number>(n);
  for (let i = 0; i < rows; i++) {
    const h = data.subarray(i * n, (i + 1) * n);
    let s1 = 0;
    for (let j = 0; j < n; j++) {
      s1 += h[j]!;
      order[j] = j;
    }
    order.sort((a, b) => h[b]! - h[a]! || a - b);
    let s2 = 0;
    for (let r = 0; r < k; r++) s2 += h[order[r]!]!;
    const scale = s2 === 0 ? 1 : Math.exp(s1 / s2);
    for (let r = 0; r < k; r++) out[i * n + order[r]!] = h[order[r]!]! * scale;
  }
  return matrix(rows, n, out);
}

/** The ASH-S detector: Energy of the logits recomputed from shaped penultimate features. */
export function ash(options: AshOptions = {}): Detector {
  const name = "ASH";
  const p = options.percentile ?? 90;
  return {
    name,
    description: `ASH-S@${p}: prune the lowest ${p}% of each penultimate feature, scale the ` +
      "rest by exp(s1/s2), then Energy −logsumexp(z) (Djurisic et al., ICLR 2023)",
    fit: (inputs) =>
      Effect.gen(function* () {
        yield* requirePercentile(name, p);
        const head = yield* readHead(name, inputs);
        return headEnergy(name, head, (h) => ashS(h, p), {
          variant: "ASH-S",
          percentile: p,
          kept: ashKeptCount(head.inputSize, p),
        });
      }),
  };
}

/** Registration of {@link ash}. */
export const ashEntry = defineDetector({
  kind: "ash",
  title: "ASH",
  family: "baseline",
  source: "Djurisic et al., ICLR 2023, variant ASH-S (OpenOOD v1.5's `ash` runs ASH-B)",
  reproduce: true,
  options: Schema.Struct({ percentile: withDefault(Percentile, 90) }),
  make: (options, name) => ({ ...ash(options), name }),
});
