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
 * Data for hyper-parameter choices: held-out ID images and validation-OOD sets. By
 * construction (see `lib/benchmarks/load.ts`) these never include a test OOD set.
 */
export interface ValidationData {
  /** The held-out ID images (never used for training). */
  readonly id: ExtractedSet;
  /** The validation-OOD sets (possibly none; never a test OOD set). */
  readonly ood: ReadonlyArray<ExtractedSet>;
}

/**
 * The ID training split as a detector fits on it: the labelled images, their features (one row
 * per image), the per-class sums at the model's early boundaries and the extraction's cache key.
 */
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
 * Everything a detector may fit on: the model, the training split and the validation data.
 * Test OOD data is not part of it. Fits report their progress to the context's `Progress`.
 */
export interface FitInputs {
  /**
   * The model the features came from, behind one interface (any kind: ONNX, tfjs, grood's CNN):
   * the head detectors read its classifier head (`FeatureModel.head`), ODIN its input gradient
   * and forward pass, GROOD's mix-up its early tap (another block, for the early-layer
   * ablation, on grood's own tfjs network, `FeatureModel.network`, when it has one).
   */
  readonly model: FeatureModel;
  /** The ID training split with its features. */
  readonly train: TrainingSet;
  /** Held-out ID and validation-OOD data for hyper-parameter choices. */
  readonly validation: ValidationData;
}

/**
 * A detector needs what only some models provide (an input gradient for ODIN:
 * `FeatureModel.inputGradient`) and was fitted on a model without it.
 */
export class NeedsClassifier extends Data.TaggedError("NeedsClassifier")<{
  readonly detector: string;
  /** What it needs the network for. */
  readonly need: string;
  /** The kind of the model it was fitted on (`onnx`, `tfjs-layers`, …). */
  readonly modelKind: string;
  /** The model's path or label, when known. */
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
  /** The value picked on validation data (see `validationAuroc`, `validationTiedAcross`). */
  readonly chosen: number;
  /** Mean validation AUROC of each grid value, in grid order. */
  readonly validationAuroc: ReadonlyArray<number>;
  /**
   * Mean share of validation scores tied across ID and OOD (`TieShares.tiedAcross`) of each
   * grid value, in grid order: a value above 1% is not chosen while another is below it.
   */
  readonly validationTiedAcross: ReadonlyArray<number>;
}

/**
 * What a detector may fail with: a closed union of tagged errors (`Data.TaggedError`), each
 * naming the input and what is wrong, so callers can match on `_tag` (`Effect.catchTag`, an
 * exhaustive `switch`) and print it. A detector with a narrower set says so with
 * `Detector<ItsErrors>`.
 */
export type { DetectorError } from "./errors.ts";

/**
 * Any tagged error (`Data.TaggedError`): what a user's own detector may fail with. grood's
 * detectors keep to the closed `DetectorError` union (the default of `Detector`); a detector
 * registered by a user (`defineDetector` with its own error type) widens only the error channel
 * of the pipeline that runs it.
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

/**
 * A fitted detector from its score and settings, with nothing tuned and nothing to free unless
 * `parts` says otherwise.
 */
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
 * A detector: a name, what it is, and how to fit it. `R` is what its fit reads from the Effect
 * context: by default `Compute`, the tfjs that ODIN's input gradient and GROOD's mix-up run on;
 * a detector that reads nothing (`Detector<E, never>`) is a `Detector` all the same.
 */
export interface Detector<E extends TaggedFailure = DetectorError, R = Compute> {
  /** Name in tables and errors. */
  readonly name: string;
  /** One line on the method and its source (paper, defaults). */
  readonly description: string;
  /** Fit on `inputs`, with the services `R` from the context. */
  readonly fit: (inputs: FitInputs) => Effect.Effect<FittedDetector<E>, E, R>;
}
