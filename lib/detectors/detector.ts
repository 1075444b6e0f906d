/**
 * One interface for every OOD detector, GROOD included: fit on the ID training split (plus the
 * validation data for hyper-parameters, never test OOD), then score any set; **higher score = more
 * likely OOD**. Detectors receive the features the pipeline extracted once, and the model.
 *
 * @module
 */
import { Data, type Effect } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import type { Matrix } from "../matrix.ts";
import type { FeatureModel } from "../models/model.ts";
import type { ClassSums, SetFeatures } from "../stages/features.ts";
import type { DetectorError } from "./errors.ts";

/** An image set together with its extracted features (the unit every detector scores). */
export interface ExtractedSet {
  /** The images (with labels, when the set has them). */
  readonly images: ImageSet;
  /** Their features and logits, one row per image. */
  readonly features: SetFeatures;
  /** Cache key of the extraction (model + set content), when it came from the pipeline. */
  readonly key?: string;
}

/**
 * Data for hyper-parameter choices: held-out ID images and validation-OOD sets (possibly none),
 * never a test OOD set (`lib/benchmarks/load.ts`).
 */
export interface ValidationData {
  /** The held-out ID images. */
  readonly id: ExtractedSet;
  /** The validation-OOD sets. */
  readonly ood: ReadonlyArray<ExtractedSet>;
}

/** The ID training split as a detector fits on it. */
export interface TrainingSet extends ExtractedSet {
  /** The ID training images with their labels. */
  readonly images: LabelledSet;
  /**
   * Cache key of the extraction. It covers the model's content key (architecture, weights,
   * preprocessing, engine) as well as the images, since GROOD keys its cached stages by it alone:
   * a hand-made key must change whenever the model or the images do.
   */
  readonly key: string;
  /** Per-class feature sums at the model's early boundaries (GROOD's early prototypes). */
  readonly classSums: ReadonlyArray<ClassSums>;
}

/**
 * Everything a detector may fit on (never test OOD data). Fits report their progress to the
 * context's `Progress`.
 */
export interface FitInputs {
  /**
   * The model the features came from (any kind): the head detectors read its classifier head,
   * ODIN its input gradient, GROOD's mix-up its early tap.
   */
  readonly model: FeatureModel;
  /** The ID training split with its features. */
  readonly train: TrainingSet;
  /** Held-out ID and validation-OOD data. */
  readonly validation: ValidationData;
}

/**
 * A detector needs what only some models provide (an input gradient for ODIN:
 * `FeatureModel.inputGradient`) and was fitted on a model without it.
 */
export class NeedsClassifier extends Data.TaggedError("NeedsClassifier")<{
  readonly detector: string;
  readonly need: string;
  readonly modelKind: string;
  readonly model?: string;
}> {
  /** What the detector needs, and the model's kind, with what to do instead. */
  override get message(): string {
    const model = this.model === undefined ? "the model" : `the model "${this.model}"`;
    return `${this.detector} needs ${this.need}, which grood's own classifier provides, and ` +
      `${model} is of kind "${this.modelKind}" without it: fit it on a grood model, or pick ` +
      "a detector that needs only features and logits";
  }
}

/** A hyper-parameter a detector chose on validation data: the grid, the pick, the criterion. */
export interface TunedParameter {
  /** The option's name (`percentile`, `temperature`, …). */
  readonly name: string;
  /** The values tried, in the order tried. */
  readonly grid: ReadonlyArray<number>;
  /** The value picked on validation data. */
  readonly chosen: number;
  /** Mean validation AUROC of each grid value, in grid order. */
  readonly validationAuroc: ReadonlyArray<number>;
  /** Mean share of validation scores tied across ID and OOD of each grid value (`tune.ts`). */
  readonly validationTiedAcross: ReadonlyArray<number>;
}

/** What a detector may fail with: a closed union of tagged errors (`errors.ts`). */
export type { DetectorError } from "./errors.ts";

/**
 * Any tagged error: what a user's own detector may fail with, widening only the error channel of
 * the pipeline that runs it (grood's keep to `DetectorError`).
 */
export interface TaggedFailure {
  /** The error's tag, what `Effect.catchTag` matches on. */
  readonly _tag: string;
}

/** A fitted detector: scores sets, and says which settings it used. */
export interface FittedDetector<E extends TaggedFailure = DetectorError> {
  /** One score per image of the set; higher = more likely OOD. */
  readonly score: (set: ExtractedSet) => Effect.Effect<Float64Array, E>;
  /** The settings in force (defaults and tuned values), for the report. */
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  /** The hyper-parameters chosen on validation data (empty when none were tuned). */
  readonly tuned: ReadonlyArray<TunedParameter>;
  /** Intermediate outputs worth exporting (GROOD: prototypes, OOD prototype, descriptors). */
  readonly artefacts?: ReadonlyArray<Artefact>;
  /** Free any tensors or indexes the detector holds. */
  readonly dispose: () => void;
}

/** A fitted detector from its score and settings (nothing tuned or to free unless given). */
export const fittedDetector = <E extends TaggedFailure = DetectorError>(
  parts: Pick<FittedDetector<E>, "score" | "settings"> & Partial<FittedDetector<E>>,
): FittedDetector<E> => ({ tuned: [], dispose: () => {}, ...parts });

/** A named array a fitted detector exposes for export (`.npy`). */
export interface Artefact {
  /** File-name stem of the export (`prototypes` → `prototypes.npy`). */
  readonly name: string;
  /** One line on what the array holds. */
  readonly description: string;
  /** The values, row-major. */
  readonly data: Float32Array;
  /** The array's shape (its product is `data.length`). */
  readonly shape: ReadonlyArray<number>;
}

/** An artefact of `data` (copied to float32 unless it is) with its `shape`. */
export const artefact = (
  name: string,
  description: string,
  data: ArrayLike<number>,
  shape: ReadonlyArray<number>,
): Artefact => ({
  name,
  description,
  data: data instanceof Float32Array ? data : Float32Array.from(data),
  shape,
});

/** A matrix as an artefact (rows × cols). */
export const matrixArtefact = (name: string, description: string, m: Matrix): Artefact =>
  artefact(name, description, m.data, [m.rows, m.cols]);

/**
 * A detector: a name, what it is, and how to fit it. `R` is what its fit reads from the context:
 * by default `Compute` (ODIN's gradient, GROOD's mix-up); `Detector<E, never>` is one too.
 */
export interface Detector<E extends TaggedFailure = DetectorError, R = Compute> {
  /** Name in tables and errors. */
  readonly name: string;
  /** One line on the method and its source. */
  readonly description: string;
  /** Fit on `inputs`, with the services `R` from the context. */
  readonly fit: (inputs: FitInputs) => Effect.Effect<FittedDetector<E>, E, R>;
}
