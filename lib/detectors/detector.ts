/**
 * One interface for every OOD detector, GROOD included: fit on the ID training split (plus,
 * for hyper-parameter choices, the validation-OOD sets and nothing else), then score any set.
 * **Higher score = more likely OOD.**
 *
 * What a detector receives is what the pipeline extracted once per model and split (features
 * and logits), so no detector repeats a forward pass it does not need; detectors that need the
 * network itself (ODIN's input perturbation, GROOD's mix-up) get it too.
 *
 * @module
 */
import { Data, type Effect } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import type { Classifier } from "../model/classifier.ts";
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

/** Everything a detector may fit on. Test OOD data is not part of it. */
export interface FitInputs {
  /** Content key of the model (architecture, weights, preprocessing): the root of every cache key. */
  readonly modelKey: string;
  /** Cache key of the training extraction. */
  readonly trainKey: string;
  /**
   * grood's own tfjs network, when the model is one (GROOD's mix-up may run on it). The head
   * detectors (ReAct, ASH, ViM, …) read the head from `model`, and from this network's dense
   * block only when no `model` is given.
   */
  readonly net?: Classifier;
  /**
   * The model behind one interface (any kind: ONNX, tfjs, grood's CNN), when the features came
   * from it: GROOD's mix-up runs on it when there is no `net`, the head detectors read its
   * classifier head (`FeatureModel.head`), and ODIN its input gradient and forward pass.
   */
  readonly model?: FeatureModel;
  /** The ID training images with their labels. */
  readonly train: LabelledSet;
  /** Features and logits of `train`, one row per image. */
  readonly trainFeatures: SetFeatures;
  /** Per-class feature sums at the network's block boundaries (for early prototypes). */
  readonly trainClassSums: ReadonlyArray<ClassSums>;
  /** Held-out ID and validation-OOD data for hyper-parameter choices. */
  readonly validation: ValidationData;
  /**
   * @deprecated Fits report to the context's `Progress` (`reportProgress`); kept until the
   * fitted-folder fits (`lib/fitted/fit*.ts`), which still pass a callback, read it from the
   * context too (`withInputChecks` bridges a callback given here to the fit's `Progress`).
   */
  readonly progress?: (stage: string, done: number, total: number) => void;
}

/**
 * A detector needs what only some models provide (grood's own network for GROOD's mix-up, an
 * input gradient for ODIN: `FeatureModel.inputGradient`) and was fitted on a model without it.
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

/** The kind of model a detector is fitted on, for errors (`unknown` when no model is given). */
export const modelKindOf = (inputs: Pick<FitInputs, "model">): string =>
  inputs.model?.kind ?? "unknown";

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
