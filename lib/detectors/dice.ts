/**
 * DICE, directed sparsification (Sun & Li, "DICE: Leveraging Sparsification for
 * Out-of-Distribution Detection", ECCV 2022), as OpenOOD v1.5's `dice` postprocessor.
 *
 * Fit: the mean training penultimate feature h̄; the contribution of weight W_cd is
 * V_cd = h̄_d · W_cd (W is the C × D head matrix); the threshold is the p-th percentile of all
 * C·D contributions (numpy's linear percentile); the head keeps the weights with V_cd > threshold
 * and zeroes the rest (the bias is kept). Score: z' = h·(W∘M)ᵀ + b, score(x) = −logsumexp(z')
 * (Energy, T = 1; OpenOOD's confidence is logsumexp; higher = more OOD here).
 *
 * Default **p = 90** (`configs/postprocessors/dice.yml`, `APS_mode: False`).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { checkTrainPenultimate, requirePercentile } from "./checks.ts";
import type { Detector } from "./detector.ts";
import {
  baselineEntry,
  type Expect,
  optionDefaults,
  type OptionsOf,
  Percentile,
  type SameFields,
  withDefault,
} from "./entry.ts";
import { columnMeans } from "./fdbd.ts";
import { headEnergy } from "./head_energy.ts";
import { type Head, percentile, readHead } from "./logits.ts";

/** DICE's options with their default: the sparsity percentile p in [0, 100), 90. */
const DiceOptionsSpec = Schema.Struct({ percentile: withDefault(Percentile, 90) });

/** Options of {@link dice}. */
export interface DiceOptions {
  /** Sparsity percentile p in [0, 100) (default 90). */
  readonly percentile?: number;
}
// The interface is the Schema's fields, each optional: checked at compile time.
type _Checked = Expect<SameFields<DiceOptions, OptionsOf<typeof DiceOptionsSpec>>>;
const DICE_DEFAULTS = optionDefaults(DiceOptionsSpec);

/** The head with the weights whose contribution h̄_d·W_cd is at or below the p-th percentile zeroed. */
export function sparsifiedHead(head: Head, meanFeature: ArrayLike<number>, p: number): Head {
  const { inputSize: d, numClasses: c, kernel } = head;
  const contributions = Float64Array.from(
    { length: d * c },
    (_, i) => meanFeature[Math.floor(i / c)]! * kernel[i]!,
  );
  const threshold = percentile(contributions, p);
  return {
    ...head,
    kernel: Float32Array.from(kernel, (w, i) => (contributions[i]! > threshold ? w : 0)),
  };
}

/** The DICE detector: Energy of the logits of a sparsified head. */
export function dice(options: DiceOptions = {}): Detector {
  const name = "DICE";
  const { percentile: p } = { ...DICE_DEFAULTS, ...options };
  return {
    name,
    description: `DICE: keep the head weights whose mean contribution is above its ${p}th ` +
      "percentile, then Energy −logsumexp(z) (Sun & Li, ECCV 2022)",
    fit: (inputs) =>
      Effect.gen(function* () {
        yield* requirePercentile(name, p);
        const trainFeatures = inputs.train.features;
        const head = yield* readHead(name, inputs);
        yield* checkTrainPenultimate(name, inputs, { penultimate: head.inputSize });
        const sparse = sparsifiedHead(head, columnMeans(trainFeatures.penultimate), p);
        const kept = sparse.kernel.filter((w) => w !== 0).length;
        return headEnergy(name, sparse, (h) => h, { percentile: p, keptWeights: kept });
      }),
  };
}

/** Registration of {@link dice}. */
export const diceEntry = baselineEntry(dice, {
  kind: "dice",
  title: "DICE",
  source: "Sun & Li, ECCV 2022; OpenOOD `dice`",
  options: DiceOptionsSpec,
});
