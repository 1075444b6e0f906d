/**
 * GROOD's IVF index in a fitted folder: the fit keeps the k-means centroids of the index it
 * scored with (state array `ivf-centroids`, centred on the descriptors' mean) and the nprobe in
 * force (settings); opening rebuilds the same lists from the saved descriptors and centroids,
 * with no k-means and no calibration, so the reloaded index searches exactly as the fitted one.
 * See `docs/internals/fitted.md`.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { decodeStrict } from "../decode.ts";
import { IVF_CENTROIDS_ARTEFACT } from "../detectors/grood_core.ts";
import { IndexSpec, ivfIndex, type NearestNeighbourIndex } from "../knn/mod.ts";
import type { Matrix } from "../matrix.ts";
import type { StateArray, StateProblem } from "./persist.ts";
import { numberSetting, problem, scopedIndex, WHOLE } from "./settings.ts";

/** The state array holding the IVF index's centroids (the fitted GROOD's artefact of that name). */
export const IVF_CENTROIDS: string = IVF_CENTROIDS_ARTEFACT;

/** At fit: the fitted index's centroids, checked (none: the folder could not rebuild the index). */
export const ivfCentroids = (
  settings: Readonly<Record<string, string | number | boolean>>,
  descriptors: Matrix,
  fitted: StateArray | undefined,
): Effect.Effect<StateArray, StateProblem> => {
  if (fitted === undefined) return problem(IVF_CENTROIDS, "the fitted IVF index gave no centroids");
  if (fitted.shape[0] !== settings.lists || fitted.shape[1] !== descriptors.cols) {
    return problem(
      IVF_CENTROIDS,
      `the fitted index's centroids are [${fitted.shape.join(", ")}]; the fit had ` +
        `${settings.lists} lists of ${descriptors.cols} columns`,
    );
  }
  return Effect.succeed({
    ...fitted,
    description: `lists × D k-means centroids of the IVF index over the training descriptors, ` +
      `centred on their mean (nprobe ${settings.nprobe})`,
  });
};

/** At open: the IVF index over `descriptors` with the saved lists and nprobe, scoped. */
export const scopedIvfIndex = (
  spec: Readonly<Record<string, unknown>>,
  settings: Readonly<Record<string, string | number | boolean>>,
  descriptors: Matrix,
  centroids: StateArray,
): Effect.Effect<NearestNeighbourIndex, StateProblem, Scope.Scope> =>
  Effect.gen(function* () {
    const index = yield* Effect.mapError(
      decodeStrict(IndexSpec, "detector spec's index")(spec.index),
      (error): StateProblem => ({ array: "spec", problem: error.message }),
    );
    const lists = yield* numberSetting(settings, "lists", WHOLE);
    const nprobe = yield* numberSetting(settings, "nprobe", WHOLE);
    if (index.kind !== "ivf") {
      return yield* problem(
        "spec",
        `settings name the ivf index, the spec's index is ${index.kind}`,
      );
    }
    // What the spec fixed, the settings must agree with: a given nprobe probes at most every list
    // (the build takes min(nprobe, lists)), and a set never has more lists than asked for.
    const given = index as { readonly lists?: number; readonly nprobe?: number };
    if (given.nprobe !== undefined && nprobe !== Math.min(given.nprobe, lists)) {
      return yield* problem(
        "settings",
        `settings.nprobe is ${nprobe}; the spec's index gives ${given.nprobe} ` +
          `(at most the ${lists} lists)`,
      );
    }
    if (given.lists !== undefined && lists > given.lists) {
      return yield* problem(
        "settings",
        `settings.lists is ${lists}; the spec's index asks for ${given.lists}`,
      );
    }
    if (centroids.shape[0] !== lists || centroids.shape[1] !== descriptors.cols) {
      return yield* problem(
        IVF_CENTROIDS,
        `expected [${lists}, ${descriptors.cols}] (settings.lists × the descriptors' ` +
          `columns), found [${centroids.shape.join(", ")}]`,
      );
    }
    if (nprobe > lists) {
      return yield* problem(
        "settings",
        `settings.nprobe ${nprobe} is more than the ${lists} lists`,
      );
    }
    return yield* scopedIndex(
      ivfIndex(descriptors, {
        lists,
        nprobe,
        centroids: centroids.data,
        ...(index.threads === undefined ? {} : { threads: index.threads }),
        name: "GROOD training descriptors",
      }),
      IVF_CENTROIDS,
    );
  });
