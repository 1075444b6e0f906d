/**
 * The general persistence of a fitted folder: keep what the detector's fit read (the
 * penultimate features, logits and labels of the training, ID validation and validation-OOD
 * sets, hashed as state files) and fit it again on load with its own deterministic `fit`:
 * same inputs, same state, same scores, bit for bit. See `docs/internals/fitted.md`.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { Compute } from "../compute/compute.ts";
import type { ExtractedSet, FitInputs, FittedDetector } from "../detectors/detector.ts";
import { decodeDetector, makeDetector } from "../detectors/registry.ts";
import { type Matrix, matrix } from "../matrix.ts";
import { type FeatureModel, sizeOf } from "../models/model.ts";
import type { SetFeatures } from "../stages/features.ts";
import type {
  FeatureScorer,
  LoadInputs,
  Persistence,
  StateArray,
  StateProblem,
} from "./persist.ts";
import { finiteArray, matrixArray, problem } from "./settings.ts";

/** The state arrays' name prefixes of the training, ID validation and i-th OOD sets. */
const TRAIN = "fit-train";
const VALIDATION = "fit-validation-id";
const oodPrefix = (i: number) => `fit-validation-ood-${i}`;

/** One set's arrays: penultimate features, logits, and labels when it has them. */
const setArrays = (prefix: string, what: string, f: SetFeatures): Array<StateArray> => [
  matrixArray(
    `${prefix}-penultimate`,
    `N × D penultimate features of ${what} ("${f.name}"), as the fit read them`,
    f.penultimate,
  ),
  matrixArray(
    `${prefix}-logits`,
    `N × C logits of ${what} ("${f.name}"), as the fit read them`,
    f.logits,
  ),
  ...(f.labels === undefined ? [] : [{
    name: `${prefix}-labels`,
    description: `N class indices of ${what} ("${f.name}"), in the model's class order`,
    data: Float32Array.from(f.labels),
    shape: [f.labels.length],
  }]),
];

/** The state array `name` as a checked N × (the model's `what` size) matrix of finite values. */
const checkedMatrix = (
  { arrays, model }: LoadInputs,
  name: string,
  what: "penultimate" | "logits",
): Effect.Effect<Matrix, StateProblem> =>
  Effect.gen(function* () {
    const cols = sizeOf(model.shapes[what]);
    const array = arrays.get(name);
    if (array === undefined) return yield* problem(name, "missing");
    const [rows, width] = array.shape;
    if (array.shape.length !== 2 || width !== cols || array.data.length !== rows! * cols) {
      return yield* problem(
        name,
        `expected N × ${cols} (the model's ${what} size), found [${array.shape.join(", ")}]`,
      );
    }
    return matrix(rows!, cols, yield* finiteArray(array));
  });

/** A checked set: penultimate and logits of equal rows, labels (when saved) among the classes. */
const checkedSet = (
  inputs: LoadInputs,
  prefix: string,
  name: string,
  needLabels: boolean,
): Effect.Effect<ExtractedSet, StateProblem> =>
  Effect.gen(function* () {
    const penultimate = yield* checkedMatrix(inputs, `${prefix}-penultimate`, "penultimate");
    const logits = yield* checkedMatrix(inputs, `${prefix}-logits`, "logits");
    const classes = logits.cols;
    const count = penultimate.rows;
    if (logits.rows !== count) {
      return yield* problem(
        `${prefix}-logits`,
        `${logits.rows} rows for the ${count} rows of ${prefix}-penultimate`,
      );
    }
    const labels = `${prefix}-labels`;
    const saved = inputs.arrays.get(labels);
    if (saved === undefined) {
      if (needLabels) return yield* problem(labels, "missing");
      return featureSet(name, inputs.model, penultimate, logits);
    }
    if (saved.shape.length !== 1 || saved.shape[0] !== count) {
      return yield* problem(
        labels,
        `expected [${count}] (one per feature row), found [${saved.shape.join(", ")}]`,
      );
    }
    const bad = saved.data.findIndex((v) => !Number.isInteger(v) || v < 0 || v >= classes);
    if (bad >= 0) {
      return yield* problem(
        labels,
        `label ${bad} is ${saved.data[bad]}, not a class index below ${classes}`,
      );
    }
    return featureSet(name, inputs.model, penultimate, logits, Uint8Array.from(saved.data));
  });

/** A set of `model`'s features named `name`, as a detector takes it. */
const featureSet = (
  name: string,
  model: FeatureModel,
  penultimate: Matrix,
  logits: Matrix,
  labels?: Uint8Array,
): ExtractedSet => {
  const { height, width, channels } = model.input;
  const count = penultimate.rows;
  const labelled = labels === undefined ? {} : { labels };
  return {
    // The features stand for the images: no detector saved this way reads pixels.
    images: {
      name,
      count,
      pixels: new Uint8Array(0),
      shape: { height, width, channels },
      ...labelled,
    },
    features: { name, count, penultimate, logits, ...labelled },
  };
};

/** The detector fitted again on the saved features (disposed when the scope closes). */
const refit = (inputs: LoadInputs): Effect.Effect<
  FittedDetector,
  StateProblem,
  Scope.Scope | Compute
> =>
  Effect.gen(function* () {
    const spec = yield* Effect.mapError(
      decodeDetector(inputs.spec, "detector.json detector.spec"),
      (error): StateProblem => ({ array: "spec", problem: error.message }),
    );
    const train = yield* checkedSet(inputs, TRAIN, inputs.names.train, true);
    const id = yield* checkedSet(inputs, VALIDATION, inputs.names.validation, false);
    const ood: Array<ExtractedSet> = [];
    for (const [i, name] of inputs.names.ood.entries()) {
      ood.push(yield* checkedSet(inputs, oodPrefix(i), name, false));
    }
    if (inputs.arrays.has(`${oodPrefix(ood.length)}-penultimate`)) {
      return yield* problem(
        oodPrefix(ood.length),
        `a validation-OOD set beyond the ${ood.length} that detector.json lists`,
      );
    }
    const fitInputs: FitInputs = {
      model: inputs.model,
      train: {
        images: { ...train.images, labels: train.features.labels!, classNames: inputs.classNames },
        features: train.features,
        classSums: [],
        key: `${inputs.modelKey}:${train.features.name}`,
      },
      validation: { id, ood },
    };
    return yield* Effect.acquireRelease(
      Effect.mapError(
        makeDetector(spec).fit(fitInputs),
        (error): StateProblem => ({
          array: "spec",
          problem: `fitting ${spec.kind} again on the saved features failed: ${error.message}`,
        }),
      ),
      (fitted) => Effect.sync(() => fitted.dispose()),
    );
  });

/** The persistence of `kinds` that keeps what their fit read and fits them again on load. */
export const refitPersistence = (kinds: ReadonlyArray<string>): Persistence => ({
  kinds,
  save: ({ train, validation }) =>
    Effect.succeed([
      ...setArrays(TRAIN, "the training split", train),
      ...setArrays(VALIDATION, "the ID validation split", validation.id.features),
      ...validation.ood.flatMap((set, i) =>
        setArrays(oodPrefix(i), `validation-OOD set ${i}`, set.features)
      ),
    ]),
  load: (inputs) =>
    Effect.map(
      refit(inputs),
      (fitted): FeatureScorer => (features) =>
        fitted.score(featureSet("batch", inputs.model, features.penultimate, features.logits)),
    ),
});
