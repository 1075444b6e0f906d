/**
 * ReAct (Sun et al., NeurIPS 2021): clip the penultimate features at c, the p-th percentile of
 * every activation of an ID split, then Energy −logsumexp(min(h, c)·W + b). Default p = 90. The
 * split is the training one (the paper, `react`) or ID validation (OpenOOD v1.5, `react-val`).
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { checkTrainPenultimate, finiteMatrix, requireSetting } from "./checks.ts";
import { headEnergy } from "./head_energy.ts";
import { percentile, readHead } from "./logits.ts";
import {
  baselineEntry,
  type Expect,
  optionDefaults,
  type OptionsMatch,
  Percentile,
  withDefault,
} from "./entry.ts";

/** The ID split whose activations give ReAct's clipping threshold. */
export type ThresholdSource = "train" | "validation";

/** ReAct's options, the threshold's default split `from` (`react`: train, `react-val`: validation). */
const reactOptions = (from: ThresholdSource) =>
  Schema.Struct({
    percentile: withDefault(Percentile, 90),
    thresholdFrom: withDefault(Schema.Literals(["train", "validation"]), from),
  });

/** Options of {@link react}. */
export interface ReactOptions {
  /** Percentile p (0–100] of the activations used as the clipping threshold (90). */
  readonly percentile?: number;
  /** Which ID split's activations set the threshold (default `"train"`). */
  readonly thresholdFrom?: ThresholdSource;
}
type _Checked = Expect<OptionsMatch<ReactOptions, ReturnType<typeof reactOptions>>>;
const REACT_DEFAULTS = optionDefaults(reactOptions("train"));

/** What each threshold source is called in names and descriptions. */
const SOURCE_LABEL: Record<ThresholdSource, string> = { train: "train", validation: "ID val" };

/** min(h, threshold) element-wise. */
export function clipActivations(features: Matrix, threshold: number): Matrix {
  return matrix(features.rows, features.cols, features.data.map((h) => Math.min(h, threshold)));
}

/** The ReAct detector: Energy of the logits recomputed from clipped penultimate features. */
export function react(options: ReactOptions = {}): Detector {
  const { thresholdFrom: from, percentile: p } = { ...REACT_DEFAULTS, ...options };
  const name = `ReAct (${SOURCE_LABEL[from]})`;
  return {
    name,
    description: `ReAct: clip penultimate features at the ${p}th percentile of the ` +
      `${from === "train" ? "training" : "ID validation"} activations, then Energy ` +
      "−logsumexp(z) (Sun et al., NeurIPS 2021)",
    fit: (inputs) =>
      Effect.gen(function* () {
        yield* requireSetting(
          Number.isFinite(p) && p > 0 && p <= 100,
          name,
          "percentile",
          p,
          "a number in (0, 100]",
        );
        const head = yield* readHead(name, inputs);
        yield* checkTrainPenultimate(name, inputs, { penultimate: head.inputSize });
        const source = from === "train" ? inputs.train.features : inputs.validation.id.features;
        yield* finiteMatrix(name, source.name, "the penultimate features", source.penultimate);
        const threshold = percentile(source.penultimate.data, p);
        return headEnergy(name, head, (h) => clipActivations(h, threshold), {
          percentile: p,
          thresholdFrom: from,
          threshold,
        });
      }),
  };
}

/** The registry entry of ReAct with one default threshold source. */
const reactEntryFrom = <const K extends string>(kind: K, from: ThresholdSource, source: string) =>
  baselineEntry(react, {
    kind,
    title: `ReAct (${SOURCE_LABEL[from]})`,
    source,
    options: reactOptions(from),
  });

/** Registration of {@link react} with the threshold from training activations (the paper). */
export const reactEntry = reactEntryFrom(
  "react",
  "train",
  "Sun et al., NeurIPS 2021 (threshold from training activations)",
);

/** Registration of {@link react} with the threshold from ID validation (OpenOOD v1.5). */
export const reactValidationEntry = reactEntryFrom(
  "react-val",
  "validation",
  "Sun et al., NeurIPS 2021; OpenOOD `react` (threshold from ID validation activations)",
);
