/**
 * GROOD's IVF index in a fitted folder. The fit keeps the k-means centroids of the index it
 * scored with as the state array `ivf-centroids` (lists × D, centred on the descriptors' mean),
 * listed in `detector.json` with its sha256 like every state file; the nprobe in force (given or
 * calibrated) is in the manifest's settings. Opening the folder rebuilds the same lists from
 * the saved descriptors and those centroids: each descriptor joins its nearest centroid's list
 * and the lists are laid out again, with no k-means and no nprobe calibration, so the reloaded
 * index searches exactly as the fitted one did (scores equal bit for bit; `fit` checks it
 * before writing, `reproduce.ts`).
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { decodeStrict } from "../decode.ts";
import { IVF_CENTROIDS_ARTEFACT } from "../detectors/grood_core.ts";
import { IndexSpec, ivfIndex, type NearestNeighbourIndex } from "../knn/mod.ts";
import type { Matrix } from "../matrix.ts";
import type { StateArray, StateProblem } from "./persist.ts";
import { numberSetting, WHOLE } from "./settings.ts";

/** The state array holding the IVF index's centroids (the fitted GROOD's artefact of that name). */
export const IVF_CENTROIDS: string = IVF_CENTROIDS_ARTEFACT;

/** What `detector.json` says of the centroids, wherever they came from. */
const centroidsDescription = (nprobe: unknown) =>
  `lists × D k-means centroids of the IVF index over the training descriptors, centred on ` +
  `their mean (nprobe ${nprobe})`;

/** The name every GROOD index carries (as GROOD's fit names it). */
const INDEX_NAME = "GROOD training descriptors";

/** The index spec of a GROOD spec, decoded strictly (an unknown option is named). */
const indexSpecOf = (spec: Readonly<Record<string, unknown>>) =>
  Effect.mapError(
    decodeStrict(IndexSpec, "detector spec's index")(spec.index),
    (error): StateProblem => ({ array: "spec", problem: error.message }),
  );

/**
 * At fit: the centroids of the IVF index GROOD built over `descriptors`, which the fitted
 * detector hands out as its `ivf-centroids` artefact (`ivfCentroidsOf`), checked against the
 * fit's lists and the descriptors' columns. A fit whose IVF index gave none is refused: the folder
 * could not rebuild the index it scored with.
 */
export const ivfCentroids = (
  settings: Readonly<Record<string, string | number | boolean>>,
  descriptors: Matrix,
  fitted: StateArray | undefined,
): Effect.Effect<StateArray, StateProblem> => {
  if (fitted === undefined) {
    return Effect.fail({ array: IVF_CENTROIDS, problem: "the fitted IVF index gave no centroids" });
  }
  if (fitted.shape[0] !== settings.lists || fitted.shape[1] !== descriptors.cols) {
    return Effect.fail({
      array: IVF_CENTROIDS,
      problem: `the fitted index's centroids are [${fitted.shape.join(", ")}]; the fit had ` +
        `${settings.lists} lists of ${descriptors.cols} columns`,
    });
  }
  return Effect.succeed({ ...fitted, description: centroidsDescription(settings.nprobe) });
};

/**
 * At open: the IVF index over the saved `descriptors`, its lists from the saved `centroids`
 * and its nprobe from the settings (threads from the spec); disposed when the scope closes.
 */
export const scopedIvfIndex = (
  spec: Readonly<Record<string, unknown>>,
  settings: Readonly<Record<string, string | number | boolean>>,
  descriptors: Matrix,
  centroids: StateArray,
): Effect.Effect<NearestNeighbourIndex, StateProblem, Scope.Scope> =>
  Effect.gen(function* () {
    const index = yield* indexSpecOf(spec);
    const lists = yield* numberSetting(settings, "lists", WHOLE);
    const nprobe = yield* numberSetting(settings, "nprobe", WHOLE);
    if (index.kind !== "ivf") {
      return yield* Effect.fail<StateProblem>({
        array: "spec",
        problem: `settings name the ivf index, the spec's index is ${index.kind}`,
      });
    }
    // What the spec fixed, the settings must agree with: a given nprobe probes at most every list
    // (the build takes min(nprobe, lists)), and a set never has more lists than asked for.
    const given = index as { readonly lists?: number; readonly nprobe?: number };
    if (given.nprobe !== undefined && nprobe !== Math.min(given.nprobe, lists)) {
      return yield* Effect.fail<StateProblem>({
        array: "settings",
        problem: `settings.nprobe is ${nprobe}; the spec's index gives ${given.nprobe} ` +
          `(at most the ${lists} lists)`,
      });
    }
    if (given.lists !== undefined && lists > given.lists) {
      return yield* Effect.fail<StateProblem>({
        array: "settings",
        problem: `settings.lists is ${lists}; the spec's index asks for ${given.lists}`,
      });
    }
    if (centroids.shape[0] !== lists || centroids.shape[1] !== descriptors.cols) {
      return yield* Effect.fail<StateProblem>({
        array: IVF_CENTROIDS,
        problem: `expected [${lists}, ${descriptors.cols}] (settings.lists × the descriptors' ` +
          `columns), found [${centroids.shape.join(", ")}]`,
      });
    }
    if (nprobe > lists) {
      return yield* Effect.fail<StateProblem>({
        array: "settings",
        problem: `settings.nprobe ${nprobe} is more than the ${lists} lists`,
      });
    }
    return yield* Effect.acquireRelease(
      Effect.mapError(
        ivfIndex(descriptors, {
          lists,
          nprobe,
          centroids: centroids.data,
          ...(index.threads === undefined ? {} : { threads: index.threads }),
          name: INDEX_NAME,
        }),
        (error): StateProblem => ({ array: IVF_CENTROIDS, problem: error.message }),
      ),
      (built) => Effect.sync(() => built.dispose()),
    );
  });
