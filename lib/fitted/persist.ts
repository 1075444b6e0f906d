/**
 * Which detectors a fitted folder can hold, and how each family of kinds saves its state and
 * scores again from it and the model's penultimate features and logits; the fit itself is
 * always the detector's own code. GROOD and its variants, MSP, MaxLogit, Energy and KNN keep
 * their state; every other kind whose scores need no images is refitted on load (`refit.ts`).
 * See `docs/internals/fitted.md`.
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
import { type FeatureModel, sizeOf } from "../models/model.ts";
import { energyScores } from "../detectors/logits.ts";
import { maxLogitScores } from "../detectors/maxlogit.ts";
import { mspScores } from "../detectors/msp.ts";
import { exactIndex } from "../knn/mod.ts";
import type { Matrix } from "../matrix.ts";
import type { SetFeatures } from "../stages/features.ts";
import { groodDescriptors, TEMPERATURE_EXPECTED, temperatureHeld } from "../stages/gradient.ts";
import { knnScore } from "../stages/score.ts";
import { UnsupportedFittedDetector } from "./errors.ts";
import { IVF_CENTROIDS, ivfCentroids, scopedIvfIndex } from "./ivf_state.ts";
import { refitPersistence } from "./refit.ts";
import {
  arrayOf,
  finiteArray,
  kWithin,
  matrixArray,
  numberSetting,
  POSITIVE,
  problem,
  scopedIndex,
  toMatrix,
  WHOLE,
} from "./settings.ts";

/** What a reloaded detector scores: a batch's penultimate features and logits. */
type ScoredFeatures = Pick<SetFeatures, "penultimate" | "logits">;

/** A named float32 array of the fitted state. */
export interface StateArray {
  readonly name: string;
  readonly description: string;
  readonly data: Float32Array;
  readonly shape: ReadonlyArray<number>;
}

/** A state array, the spec or a setting (`array`) that is missing or unusable. */
export interface StateProblem {
  readonly array: string;
  readonly problem: string;
}

/** The scores of a batch from its features (higher = more OOD). */
export type FeatureScorer = (
  features: ScoredFeatures,
) => Effect.Effect<Float64Array, { readonly _tag: string; readonly message: string }>;

/** What `save` reads: the detector fitted in process and what it was fitted on. */
interface SaveInputs {
  /** The detector's display name. */
  readonly detector: string;
  readonly spec: Readonly<Record<string, unknown>>;
  readonly fitted: FittedDetector;
  /** The training features (empty for GROOD's streamed fit, which keeps none). */
  readonly train: SetFeatures;
  readonly validation: ValidationData;
}

/** What `load` reads: the manifest's detector, the checked state arrays, the opened model. */
export interface LoadInputs {
  readonly spec: Readonly<Record<string, unknown>>;
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  readonly arrays: ReadonlyMap<string, StateArray>;
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
  readonly save: (
    inputs: SaveInputs,
  ) => Effect.Effect<ReadonlyArray<StateArray>, UnsupportedFittedDetector>;
  /** Resources of the scorer are freed with the scope. */
  readonly load: (
    inputs: LoadInputs,
  ) => Effect.Effect<FeatureScorer, StateProblem, Scope.Scope | Compute>;
}

const entries = DETECTORS as ReadonlyArray<AnyDetectorEntry>;

/** GROOD's temperature: one its float32 descriptors hold, as its spec checks. */
const GROOD_TEMPERATURE = [TEMPERATURE_EXPECTED, temperatureHeld] as const;

const GROOD_ARRAYS = ["class-prototypes-penultimate", "ood-prototype", "train-descriptors"];

/** The index kinds GROOD's state can be saved with (`ivf_state.ts` for IVF's lists). */
const SAVED_INDEXES = ["exact", "ivf"];

/** GROOD: prototypes, descriptors and their exact or IVF index (distance: the OOD prototype). */
const groodPersistence: Persistence = {
  kinds: entries.filter((e) => e.kind.startsWith("grood")).map((e) => e.kind),
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
      const centroids = yield* Effect.mapError(
        ivfCentroids(
          settings,
          toMatrix(arrays.find((a) => a.name === "train-descriptors")!),
          fitted.artefacts?.find((a) => a.name === IVF_CENTROIDS),
        ),
        (problem) => refused(`its IVF index: ${problem.array}: ${problem.problem}`),
      );
      return [...arrays, centroids];
    }),
  load: ({ spec, settings, arrays, model }) =>
    Effect.gen(function* () {
      if (settings.descriptor === "distance") {
        const ood = yield* finiteArray(yield* arrayOf(arrays, "ood-prototype", 1));
        const size = sizeOf(model.shapes.penultimate);
        if (ood.length !== size) {
          return yield* problem(
            "ood-prototype",
            `expected ${size} values (the model's penultimate size), found ${ood.length}`,
          );
        }
        return (features: ScoredFeatures) =>
          Effect.succeed(negativeDistanceTo(features.penultimate, ood));
      }
      const k = yield* numberSetting(settings, "k", WHOLE);
      const temperature = yield* numberSetting(settings, "temperature", GROOD_TEMPERATURE);
      const prototypes = yield* arrayOf(arrays, "class-prototypes-penultimate", 2);
      yield* finiteArray(prototypes);
      const classes = toMatrix(prototypes);
      const ood = yield* finiteArray(yield* arrayOf(arrays, "ood-prototype", 1));
      const descriptors = toMatrix(yield* arrayOf(arrays, "train-descriptors", 2));
      yield* kWithin(k, descriptors.rows, "training descriptors");
      if (ood.length !== classes.cols || descriptors.cols !== classes.cols) {
        return yield* problem(
          "ood-prototype",
          `sizes disagree: class prototypes ${classes.rows}×${classes.cols}, OOD ` +
            `prototype ${ood.length}, descriptors ${descriptors.rows}×${descriptors.cols}`,
        );
      }
      if (!SAVED_INDEXES.includes(`${settings.index}`)) {
        return yield* problem(
          "spec",
          `settings.index: expected one of ${SAVED_INDEXES.join(", ")}, found ${settings.index}`,
        );
      }
      const index = settings.index === "ivf"
        ? yield* scopedIvfIndex(
          spec,
          settings,
          descriptors,
          yield* arrayOf(arrays, IVF_CENTROIDS, 2),
        )
        : yield* scopedIndex(
          exactIndex(descriptors, { name: "GROOD training descriptors" }),
          "train-descriptors",
        );
      return (features: ScoredFeatures) =>
        Effect.flatMap(
          groodDescriptors(features.penultimate, { classes, ood }, temperature),
          (queries) => knnScore(index, queries, k),
        );
    }),
};

/** Scorers of the logits alone (no arrays), at the saved temperature when `temperature`. */
const logitPersistence = (
  kind: string,
  score: (logits: Matrix, temperature: number) => Float64Array,
  temperature = false,
): Persistence => ({
  kinds: [kind],
  save: () => Effect.succeed([]),
  load: ({ settings }) =>
    Effect.map(
      temperature ? numberSetting(settings, "temperature", POSITIVE) : Effect.succeed(1),
      (t): FeatureScorer => (features) => Effect.succeed(score(features.logits, t)),
    ),
});

/** KNN: the L2-normalised training features, exact k-NN, distance to the k-th neighbour. */
const knnPersistence: Persistence = {
  kinds: ["knn"],
  save: ({ train }) =>
    Effect.succeed([matrixArray(
      "train-features-normalised",
      "N × D L2-normalised penultimate features of the training split",
      l2Normalise(train.penultimate),
    )]),
  load: ({ settings, arrays }) =>
    Effect.gen(function* () {
      const k = yield* numberSetting(settings, "k", WHOLE);
      const points = toMatrix(yield* arrayOf(arrays, "train-features-normalised", 2));
      yield* kWithin(k, points.rows, "training features");
      const index = yield* scopedIndex(
        exactIndex(points, { name: "KNN training features" }),
        "train-features-normalised",
      );
      return (features: ScoredFeatures) =>
        Effect.map(
          index.search(l2Normalise(features.penultimate), k),
          (neighbours) => kthDistance(neighbours, k),
        );
    }),
};

/** The families that keep their own state (every other kind is refitted on load). */
const STATE_PERSISTENCE: ReadonlyArray<Persistence> = [
  groodPersistence,
  logitPersistence("msp", mspScores),
  logitPersistence("maxlogit", maxLogitScores),
  logitPersistence("energy", energyScores, true),
  knnPersistence,
];
const kept = new Set(STATE_PERSISTENCE.flatMap((p) => p.kinds));

const PERSISTENCE: ReadonlyArray<Persistence> = [
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

/** The persistence `fit` saves a kind with; refused before any work when there is none. */
export const savedAs = (kind: string): Effect.Effect<Persistence, UnsupportedFittedDetector> => {
  const persistence = persistenceOf(kind);
  if (persistence !== undefined) return Effect.succeed(persistence);
  const why = entries.find((e) => e.kind === kind)?.scoresImages;
  return Effect.fail(
    new UnsupportedFittedDetector({
      detector: kind,
      problem: why === undefined
        ? "it needs more than the model's features and logits at scoring time"
        : `${why}, and a fitted folder scores from the model's features and logits alone`,
      supported: SUPPORTED_KINDS,
    }),
  );
};
