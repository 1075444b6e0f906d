/**
 * DICE (Sun & Li, ECCV 2022; OpenOOD v1.5 `dice`): zero the head weights W_cd whose contribution
 * h̄_d·W_cd (h̄ the mean training feature) is at or below its p-th percentile, then Energy
 * −logsumexp(z') of the sparsified head's logits. Default p = 90.
 * Details: `docs/internals/detectors.md`.
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
  type OptionsMatch,
  Percentile,
  withDefault,
} from "./entry.ts";
import { columnMeans } from "./fdbd.ts";
import { headEnergy } from "./head_energy.ts";
import { type Head, percentile, readHead } from "./logits.ts";

const DiceOptionsSpec = Schema.Struct({ percentile: withDefault(Percentile, 90) });

/** Options of {@link dice}. */
export interface DiceOptions {
  /** Sparsity percentile p in [0, 100) (default 90). */
  readonly percentile?: number;
}
type _Checked = Expect<OptionsMatch<DiceOptions, typeof DiceOptionsSpec>>;
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

export const diceEntry = baselineEntry(dice, {
  kind: "dice",
  title: "DICE",
  source: "Sun & Li, ECCV 2022; OpenOOD `dice`",
  options: DiceOptionsSpec,
});
