/**
 * Energy (Liu et al., NeurIPS 2020; OpenOOD v1.5 `ebo`): score(x) = −T·log Σⱼ exp(zⱼ/T), default
 * T = 1 (the paper's and OpenOOD's).
 *
 * @module
 */
import type { Detector } from "./detector.ts";
import { requirePositiveTemperature } from "./checks.ts";
import { pointwiseDetector } from "./pointwise.ts";
import { energyScores } from "./logits.ts";
import {
  baselineEntry,
  type Expect,
  optionDefaults,
  type OptionsMatch,
  PositiveNumber,
  withDefault,
} from "./entry.ts";
import { Schema } from "effect";

const EnergyOptionsSpec = Schema.Struct({ temperature: withDefault(PositiveNumber, 1) });

/** Options of {@link energy}. */
export interface EnergyOptions {
  /** Temperature T (default 1). */
  readonly temperature?: number;
}
type _Checked = Expect<OptionsMatch<EnergyOptions, typeof EnergyOptionsSpec>>;
const ENERGY_DEFAULTS = optionDefaults(EnergyOptionsSpec);

/** The Energy detector: −T·logsumexp(z/T). */
export function energy(options: EnergyOptions = {}): Detector {
  const name = "Energy";
  const { temperature } = { ...ENERGY_DEFAULTS, ...options };
  return pointwiseDetector({
    name,
    description: `Energy score −T·logsumexp(z/T), T = ${temperature} (Liu et al., NeurIPS 2020)`,
    settings: { temperature },
    check: requirePositiveTemperature(name, temperature),
    score: (features) => energyScores(features.logits, temperature),
  });
}

export const energyEntry = baselineEntry(energy, {
  kind: "energy",
  title: "Energy",
  source: "Liu et al., NeurIPS 2020; OpenOOD `ebo`",
  options: EnergyOptionsSpec,
});
