/**
 * `fit`'s check before it writes a folder: the state about to be saved, loaded back the way
 * `openFittedDetector` loads it, scores the validation sets exactly as the detector fitted in
 * process did (every image, float64 bit for bit). A detector whose state does not reproduce
 * (a fit that is not deterministic, one that reads what a folder does not keep) is refused
 * with `UnsupportedFittedDetector` naming it and the first image that differs, and nothing is
 * written.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { ExtractedSet } from "../detectors/detector.ts";
import { UnsupportedFittedDetector } from "./errors.ts";
import { type LoadInputs, type Persistence, type StateArray, SUPPORTED_KINDS } from "./persist.ts";

/** What {@link checkReproduced} compares: each validation set and its in-process scores. */
export interface ScoredSet {
  readonly set: ExtractedSet;
  readonly scores: Float64Array;
}

/**
 * Load `arrays` with `persistence` (as a folder would be loaded, the spec through JSON) and
 * score every set of `scored`; fail unless every score equals the in-process one.
 */
export const checkReproduced = (
  kind: string,
  persistence: Persistence,
  arrays: ReadonlyArray<StateArray>,
  inputs: Omit<LoadInputs, "arrays">,
  scored: ReadonlyArray<ScoredSet>,
): Effect.Effect<void, UnsupportedFittedDetector, Scope.Scope | Compute> =>
  Effect.scoped(Effect.gen(function* () {
    const refused = (problem: string) =>
      new UnsupportedFittedDetector({
        detector: kind,
        problem: `its saved state does not reproduce its scores: ${problem}`,
        supported: SUPPORTED_KINDS,
      });
    const scorer = yield* Effect.mapError(
      persistence.load({
        ...inputs,
        spec: JSON.parse(JSON.stringify(inputs.spec)),
        arrays: new Map(arrays.map((a) => [a.name, a])),
      }),
      (problem) => refused(`loading ${problem.array} failed (${problem.problem})`),
    );
    for (const { set, scores } of scored) {
      const { penultimate, logits } = set.features;
      const again = yield* Effect.mapError(
        scorer({ penultimate, logits }),
        (error) => refused(`scoring "${set.features.name}" again failed (${error.message})`),
      );
      const differ = again.length !== scores.length
        ? 0
        : scores.findIndex((s, i) => !Object.is(s, again[i]));
      if (differ >= 0) {
        return yield* refused(
          `image ${differ} of "${set.features.name}" scores ${scores[differ]} in process and ` +
            `${again[differ]} reloaded`,
        );
      }
    }
  }));
