/**
 * `fit`'s check before it writes: the state, loaded back as `openFittedDetector` loads it, must
 * score the validation sets bit for bit as in process; else `UnsupportedFittedDetector` names
 * the first image that differs and nothing is written.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { ExtractedSet } from "../detectors/detector.ts";
import { UnsupportedFittedDetector } from "./errors.ts";
import { type LoadInputs, type Persistence, type StateArray, SUPPORTED_KINDS } from "./persist.ts";

interface ScoredSet {
  readonly set: ExtractedSet;
  readonly scores: Float64Array;
}

/** Load `arrays` (the spec through JSON, as from a folder) and score every set again. */
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
