/**
 * Which detectors a fitted folder can hold, and how each one's state is saved and scored again:
 * one entry per family of kinds. The detector is always fitted in process by its own code
 * (`makeDetector(spec).fit`); an entry says which arrays to keep and how the scores follow from
 * them and the model's penultimate features and logits. GROOD and its variants, MSP, MaxLogit,
 * Energy and KNN keep their state; every other registered detector keeps what its fit read
 * and is fitted again on load (`refit.ts`). A detector whose scores need the images themselves
 * (its entry's `scoresImages`: ODIN) is refused. `tests/fit_every_detector_test.ts` checks that
 * the reloaded scores equal the in-process ones, bit for bit, for every registered kind.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { FittedDetector, ValidationData } from "../detectors/detector.ts";
import { negativeDistanceTo } from "../detectors/grood.ts";
import { kthDistance, l2Normalise } from "../detectors/knn.ts";
import { DETECTORS } from "../detectors/registry.ts";
import type { AnyDetectorEntry } from "../detectors/entry.ts";
import type { FeatureModel } from "../models/model.ts";
import { energyScores } from "../detectors/logits.ts";
import { maxLogitScores } from "../detectors/maxlogit.ts";
import { mspScores } from "../detectors/msp.ts";
import { exactIndex, type NearestNeighbourIndex } from "../knn/mod.ts";
import { type Matrix, matrix } from "../matrix.ts";
import type { SetFeatures } from "../stages/features.ts";
import { groodDescriptors, TEMPERATURE_EXPECTED, temperatureHeld } from "../stages/gradient.ts";
import { knnScore } from "../stages/score.ts";
import { UnsupportedFittedDetector } from "./errors.ts";
import { IVF_CENTROIDS, ivfCentroids, scopedIvfIndex } from "./ivf_state.ts";
import { refitPersistence } from "./refit.ts";
import { numberSetting, POSITIVE, WHOLE } from "./settings.ts";

/** What a reloaded detector scores: the model's penultimate features and logits of a batch. */
export interface ScoredFeatures {
  readonly penultimate: Matrix;
  readonly logits: Matrix;
}

/** A named float32 array of the fitted state. */
export interface StateArray {
  readonly name: string;
  readonly description: string;
  readonly data: Float32Array;
  readonly shape: ReadonlyArray<number>;
}

/** A state array (or the spec, `array: "spec"`) that is missing, of the wrong shape, or unusable. */
export interface StateProblem {
  readonly array: string;
  readonly problem: string;
}

/** The scores of a batch from its features (higher = more OOD). */
export type FeatureScorer = (
  features: ScoredFeatures,
) => Effect.Effect<Float64Array, { readonly _tag: string; readonly message: string }>;

/** What `save` reads: the detector fitted in process and what it was fitted on. */
export interface SaveInputs {
  /** The detector's display name. */
  readonly detector: string;
  /** The decoded detector spec (defaults filled in), as `detector.json` will keep it. */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly fitted: FittedDetector;
  /** The training features (empty for GROOD's streamed fit, which keeps none). */
  readonly train: SetFeatures;
  /** The ID validation and validation-OOD features the fit tuned on. */
  readonly validation: ValidationData;
}

/** What `load` reads: the manifest's detector, the checked state arrays, the opened model. */
export interface LoadInputs {
  /** The decoded detector spec as written in `detector.json` (defaults filled in). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  readonly arrays: ReadonlyMap<string, StateArray>;
  /** The folder's model copy, opened. */
  readonly model: FeatureModel;
  /** The model's content key (`detector.json` `model.sha256`). */
  readonly modelKey: string;
  readonly classNames: ReadonlyArray<string>;
  /** Names of the sets the detector saw: training, ID validation, each validation-OOD set. */
  readonly names: {
    readonly train: string;
    readonly validation: string;
    readonly ood: ReadonlyArray<string>;
  };
}

/** How one family of detector kinds is saved and reloaded. */
export interface Persistence {
  readonly kinds: ReadonlyArray<string>;
  /** The arrays to keep, from the detector fitted in process and its training features. */
  readonly save: (
    inputs: SaveInputs,
  ) => Effect.Effect<ReadonlyArray<StateArray>, UnsupportedFittedDetector>;
  /** The scorer from the saved settings and arrays (resources freed with the scope). */
  readonly load: (
    inputs: LoadInputs,
  ) => Effect.Effect<FeatureScorer, StateProblem, Scope.Scope | Compute>;
}

/** GROOD's temperature: one its float32 descriptors hold (`TEMPERATURE_RANGE`), as its spec checks. */
const GROOD_TEMPERATURE = [TEMPERATURE_EXPECTED, temperatureHeld] as const;

/** Refuse a state array holding a NaN or an infinity, naming it and the first such value. */
const finiteArray = (array: StateArray): Effect.Effect<Float32Array, StateProblem> => {
  const bad = array.data.findIndex((v) => !Number.isFinite(v));
  return bad < 0 ? Effect.succeed(array.data) : Effect.fail({
    array: array.name,
    problem: `value ${bad} is ${array.data[bad]}, not a finite number`,
  });
};

const arrayOf = (
  arrays: ReadonlyMap<string, StateArray>,
  name: string,
  rank: number,
): Effect.Effect<StateArray, StateProblem> => {
  const array = arrays.get(name);
  if (array === undefined) return Effect.fail({ array: name, problem: "missing" });
  if (array.shape.length !== rank) {
    return Effect.fail({
      array: name,
      problem: `expected ${rank} dimensions, found [${array.shape.join(", ")}]`,
    });
  }
  return Effect.succeed(array);
};

const toMatrix = (a: StateArray): Matrix => matrix(a.shape[0]!, a.shape[1]!, a.data);

/** An exact index over `points` (the state array `array`), disposed when the scope closes. */
const scopedIndex = (points: Matrix, name: string, array: string) =>
  Effect.acquireRelease(
    Effect.mapError(
      exactIndex(points, { name }),
      (error): StateProblem => ({ array, problem: error.message }),
    ),
    (index: NearestNeighbourIndex) => Effect.sync(() => index.dispose()),
  );

const GROOD_ARRAYS = ["class-prototypes-penultimate", "ood-prototype", "train-descriptors"];

/** The index kinds GROOD's state can be saved with (`ivf_state.ts` for IVF's lists). */
const SAVED_INDEXES = ["exact", "ivf"];

/**
 * GROOD and its variants: class and OOD prototypes, training descriptors, and k-NN over them,
 * exact or IVF (its centroids kept too, `ivf_state.ts`); the distance ablation (`descriptor:
 * "distance"`) keeps the OOD prototype alone.
 */
const groodPersistence: Persistence = {
  kinds: [
    "grood",
    "grood-no-mixup",
    "grood-distance",
    "grood-tuned-temperature",
    "grood-val-ood-batch",
    "grood-val-ood",
  ],
  save: ({ detector, fitted }) =>
    Effect.gen(function* () {
      const { settings } = fitted;
      const refused = (problem: string) =>
        new UnsupportedFittedDetector({ detector, problem, supported: SUPPORTED_KINDS });
      const distance = settings.descriptor === "distance";
      if (
        !distance &&
        (settings.descriptor !== "gradient" || !SAVED_INDEXES.includes(`${settings.index}`))
      ) {
        return yield* refused(
          `only the gradient descriptor with the exact or ivf index, or the distance ` +
            `descriptor, is saved (this one: descriptor ${settings.descriptor}, index ` +
            `${settings.index})`,
        );
      }
      const wanted = distance ? ["ood-prototype"] : GROOD_ARRAYS;
      const arrays = (fitted.artefacts ?? []).filter((a) => wanted.includes(a.name));
      if (arrays.length !== wanted.length) {
        return yield* refused(`its fitted state lacks ${wanted.join(", ")}`);
      }
      if (distance || settings.index !== "ivf") return arrays;
      // The fitted index's own centroids (no second k-means); a fit without them is refused.
      const own = (fitted.artefacts ?? []).find((a) => a.name === IVF_CENTROIDS);
      const centroids = yield* Effect.mapError(
        ivfCentroids(
          settings,
          toMatrix(arrays.find((a) => a.name === "train-descriptors")!),
          own,
        ),
        (problem) => refused(`its IVF index: ${problem.array}: ${problem.problem}`),
      );
      return [...arrays, centroids];
    }),
  load: ({ spec, settings, arrays, model }) =>
    Effect.gen(function* () {
      if (settings.descriptor === "distance") {
        const ood = yield* finiteArray(yield* arrayOf(arrays, "ood-prototype", 1));
        const size = model.shapes.penultimate.reduce((a, b) => a * b, 1);
        if (ood.length !== size) {
          return yield* Effect.fail<StateProblem>({
            array: "ood-prototype",
            problem: `expected ${size} values (the model's penultimate size), found ${ood.length}`,
          });
        }
        const scorer: FeatureScorer = (features) =>
          Effect.succeed(negativeDistanceTo(features.penultimate, ood));
        return scorer;
      }
      const k = yield* numberSetting(settings, "k", WHOLE);
      const temperature = yield* numberSetting(settings, "temperature", GROOD_TEMPERATURE);
      const prototypes = yield* arrayOf(arrays, "class-prototypes-penultimate", 2);
      yield* finiteArray(prototypes);
      const classes = toMatrix(prototypes);
      const ood = yield* finiteArray(yield* arrayOf(arrays, "ood-prototype", 1));
      const descriptors = toMatrix(yield* arrayOf(arrays, "train-descriptors", 2));
      if (k > descriptors.rows) {
        return yield* Effect.fail<StateProblem>({
          array: "settings.k",
          problem: `expected at most the ${descriptors.rows} training descriptors, found ${k}`,
        });
      }
      if (ood.length !== classes.cols || descriptors.cols !== classes.cols) {
        return yield* Effect.fail<StateProblem>({
          array: "ood-prototype",
          problem: `sizes disagree: class prototypes ${classes.rows}×${classes.cols}, OOD ` +
            `prototype ${ood.length}, descriptors ${descriptors.rows}×${descriptors.cols}`,
        });
      }
      if (!SAVED_INDEXES.includes(`${settings.index}`)) {
        return yield* Effect.fail<StateProblem>({
          array: "spec",
          problem: `settings.index: expected one of ${SAVED_INDEXES.join(", ")}, found ` +
            `${settings.index}`,
        });
      }
      const index = settings.index === "ivf"
        ? yield* scopedIvfIndex(
          spec,
          settings,
          descriptors,
          yield* arrayOf(arrays, IVF_CENTROIDS, 2),
        )
        : yield* scopedIndex(descriptors, "GROOD training descriptors", "train-descriptors");
      const scorer: FeatureScorer = (features) =>
        Effect.flatMap(
          groodDescriptors(features.penultimate, { classes, ood }, temperature),
          (queries) => knnScore(index, queries, k),
        );
      return scorer;
    }),
};

/** Scorers of the logits alone: no arrays. */
const logitPersistence = (kind: string, score: (logits: Matrix) => Float64Array): Persistence => ({
  kinds: [kind],
  save: () => Effect.succeed([]),
  load: () => Effect.succeed((features: ScoredFeatures) => Effect.succeed(score(features.logits))),
});

/** Energy: the logits at the saved temperature (checked on load, as its spec checks it). */
const energyPersistence: Persistence = {
  kinds: ["energy"],
  save: () => Effect.succeed([]),
  load: ({ settings }) =>
    Effect.map(
      numberSetting(settings, "temperature", POSITIVE),
      (temperature): FeatureScorer => (features) =>
        Effect.succeed(energyScores(features.logits, temperature)),
    ),
};

/** KNN: the L2-normalised training features, exact k-NN, distance to the k-th neighbour. */
const knnPersistence: Persistence = {
  kinds: ["knn"],
  save: ({ train }) => {
    const normalised = l2Normalise(train.penultimate);
    return Effect.succeed([{
      name: "train-features-normalised",
      description: "N × D L2-normalised penultimate features of the training split",
      data: normalised.data,
      shape: [normalised.rows, normalised.cols],
    }]);
  },
  load: ({ settings, arrays }) =>
    Effect.gen(function* () {
      const k = yield* numberSetting(settings, "k", WHOLE);
      const points = toMatrix(yield* arrayOf(arrays, "train-features-normalised", 2));
      if (k > points.rows) {
        return yield* Effect.fail<StateProblem>({
          array: "settings.k",
          problem: `expected at most the ${points.rows} training features, found ${k}`,
        });
      }
      const index = yield* scopedIndex(
        points,
        "KNN training features",
        "train-features-normalised",
      );
      const scorer: FeatureScorer = (features) =>
        Effect.map(
          index.search(l2Normalise(features.penultimate), k),
          (neighbours) => kthDistance(neighbours, k),
        );
      return scorer;
    }),
};

/** The families that keep their own state (every other kind is refitted on load). */
const STATE_PERSISTENCE: ReadonlyArray<Persistence> = [
  groodPersistence,
  logitPersistence("msp", mspScores),
  logitPersistence("maxlogit", maxLogitScores),
  energyPersistence,
  knnPersistence,
];

const entries = DETECTORS as ReadonlyArray<AnyDetectorEntry>;
const kept = new Set(STATE_PERSISTENCE.flatMap((p) => p.kinds));

/** Every family of kinds a fitted folder can hold. */
export const PERSISTENCE: ReadonlyArray<Persistence> = [
  ...STATE_PERSISTENCE,
  refitPersistence(
    entries.filter((e) => !kept.has(e.kind) && e.scoresImages === undefined).map((e) => e.kind),
  ),
];

/** The detector kinds `fit` can save: every registered kind whose scores need no images. */
export const SUPPORTED_KINDS: ReadonlyArray<string> = PERSISTENCE.flatMap((p) => p.kinds);

/** The persistence of a kind, if it has one. */
export const persistenceOf = (kind: string): Persistence | undefined =>
  PERSISTENCE.find((p) => p.kinds.includes(kind));

/** Why a registered kind cannot be saved into a folder (undefined when it can, or is unknown). */
export const refusalOf = (kind: string): string | undefined =>
  entries.find((e) => e.kind === kind)?.scoresImages;
