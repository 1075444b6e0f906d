/**
 * What the detectors that recompute the logits with the dense head share (ReAct, ASH, DICE):
 * the check of the training features they fit on, and the fitted scorer, the Energy score
 * −logsumexp(z̄) of z̄ = head(transform(h)) at temperature 1. Each detector's own file keeps
 * only its idea: a clip (ReAct), a shaping (ASH), a sparsified head (DICE).
 *
 * @module
 */
import { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import {
  checkSet,
  type FeatureSizeMismatch,
  finiteMatrix,
  type NonFiniteFeatures,
  scoreChecked,
} from "./checks.ts";
import type { FitInputs, FittedDetector } from "./detector.ts";
import { applyHead, energyScores, type Head } from "./logits.ts";

/** The training penultimate features: one row per image, `size` columns, every value finite. */
export const checkTrainPenultimate = (
  detector: string,
  inputs: FitInputs,
  size: number,
): Effect.Effect<void, FeatureSizeMismatch | NonFiniteFeatures> =>
  Effect.gen(function* () {
    const { trainFeatures } = inputs;
    yield* checkSet(detector, { images: inputs.train, features: trainFeatures }, {
      penultimate: size,
    });
    yield* finiteMatrix(
      detector,
      trainFeatures.name,
      "the penultimate features",
      trainFeatures.penultimate,
    );
  });

/**
 * A fitted detector scoring every set by the Energy of the logits `head` computes from its
 * `transform`ed penultimate features (checked for size and finiteness first; scores checked
 * finite). `settings` are recorded with `temperature: 1` added.
 */
export function headEnergy(
  detector: string,
  head: Head,
  transform: (penultimate: Matrix) => Matrix,
  settings: FittedDetector["settings"],
): FittedDetector {
  return {
    score: (set) =>
      scoreChecked(
        detector,
        set,
        { penultimate: head.inputSize },
        () => energyScores(applyHead(transform(set.features.penultimate), head)),
      ),
    settings: { ...settings, temperature: 1 },
    tuned: [],
    dispose: () => {},
  };
}
