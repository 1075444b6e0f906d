/**
 * `detector.json`, the manifest of a fitted-detector folder: what was fitted (detector kind
 * and settings), on which model (kind, content hash, taps, input preprocessing) and data
 * (checksums), the files of its state (each with its sha256), the decision threshold, the
 * validation metrics, and the validation score distributions (histograms and quantile samples,
 * for a UI to draw). Decoded with a strict Schema: a folder whose manifest does not decode is
 * refused, not half-read.
 *
 * Folder layout (version 1):
 *
 * ```text
 * detector.json          this manifest
 * model/…                a copy of the model (file or folder, as it was given)
 * state/<name>.npy       the fitted state (float32 arrays; which ones depends on the kind)
 * ```
 *
 * @module
 */
import { Schema } from "effect";
import { InputSpecSchema, TapsSchema } from "../models/model.ts";
import { OOD_METRICS } from "../stages/evaluate.ts";

/** The manifest's file name. */
export const FITTED_MANIFEST_FILE = "detector.json";
/** The value of `format`. */
export const FITTED_FORMAT = "grood-fitted-detector";
/** The folder layout version this code writes and reads. */
export const FITTED_VERSION = 1;

const Sha256 = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/, { message: "Expected a hex sha256" })),
);
const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
const Setting = Schema.Union([Schema.String, Schema.Finite, Schema.Boolean]);
/** Each metric of `evaluateOod` (AUROC, AUPR in and out, FPR@95 both ways): a finite number. */
const metricFields = Object.fromEntries(OOD_METRICS.map((m) => [m, Schema.Finite])) as {
  readonly [M in (typeof OOD_METRICS)[number]]: typeof Schema.Finite;
};

/** One file of the folder, with its size and sha256 (checked on load). */
export const FileEntry = Schema.Struct({
  path: Schema.String,
  bytes: Count,
  sha256: Sha256,
});
export type FileEntry = typeof FileEntry.Type;

/** One array of the fitted state. */
export const StateEntry = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  shape: Schema.Array(Count),
  file: FileEntry,
});
export type StateEntry = typeof StateEntry.Type;

/** A data set the detector saw: what it was, how many images, the checksum of its content. */
export const DataEntry = Schema.Struct({
  source: Schema.String,
  count: Count,
  /** sha256 of the decoded images (and labels) at the model's input size (`readSource`). */
  checksum: Sha256,
});
export type DataEntry = typeof DataEntry.Type;

/** AUROC, AUPR, FPR@95 of the ID validation set against one validation-OOD set. */
export const ValidationMetrics = Schema.Struct({
  source: Schema.String,
  ...metricFields,
  /** Share of this set flagged OOD at the folder's threshold. */
  flaggedAtThreshold: Schema.Finite,
});
export type ValidationMetrics = typeof ValidationMetrics.Type;

/** A set's validation scores: a histogram over shared bin edges and evenly spaced quantiles. */
export const ScoreDistribution = Schema.Struct({
  source: Schema.String,
  /** Counts per bin of `histogram.edges` (scores outside the edges fall in the end bins). */
  counts: Schema.Array(Count),
  /** Up to 101 quantiles (0 %, 1 %, …, 100 %) of the set's scores. */
  quantiles: Schema.Array(Schema.Finite),
  min: Schema.Finite,
  max: Schema.Finite,
  mean: Schema.Finite,
});
export type ScoreDistribution = typeof ScoreDistribution.Type;

/** The decoded `detector.json`. */
export const FittedManifest = Schema.Struct({
  format: Schema.Literal(FITTED_FORMAT),
  version: Schema.Literal(FITTED_VERSION),
  createdAt: Schema.String,
  detector: Schema.Struct({
    /** Registry kind (`grood`, `msp`, `knn`…). */
    kind: Schema.String,
    /** Display name. */
    name: Schema.String,
    /** The detector spec as decoded (every option, defaults filled in). */
    spec: Schema.Record(Schema.String, Schema.Unknown),
    /** The settings in force after fitting (tuned values included). */
    settings: Schema.Record(Schema.String, Setting),
  }),
  model: Schema.Struct({
    kind: Schema.Literals(["grood", "onnx", "tfjs-layers", "tfjs-graph"]),
    /** What the user gave to `fit` (informational; the copy below is what runs). */
    source: Schema.String,
    /** Path of the copy inside the folder (the file or folder `openModel` opens). */
    path: Schema.String,
    /** sha256 over the copied files (sorted paths and their sha256s): the model's content key. */
    sha256: Sha256,
    files: Schema.Array(FileEntry),
    input: InputSpecSchema,
    taps: TapsSchema,
    /** Shapes (without the batch axis) of the input and of each tap. */
    shapes: Schema.Struct({
      input: Schema.Array(Schema.Int),
      early: Schema.Array(Schema.Int),
      penultimate: Schema.Array(Schema.Int),
      logits: Schema.Array(Schema.Int),
    }),
    classNames: Schema.Array(Schema.String),
  }),
  data: Schema.Struct({
    train: DataEntry,
    /** ID validation images (given with `--val`, or held out of the training source). */
    validation: Schema.Struct({ ...DataEntry.fields, heldOut: Schema.Boolean }),
    validationOod: Schema.Array(DataEntry),
  }),
  state: Schema.Array(StateEntry),
  /** Score above which an image is called OOD: it keeps ≥ 95 % of the ID validation images. */
  threshold: Schema.Finite,
  validation: Schema.Struct({
    /** Share of ID validation images the model classifies right (labels permitting). */
    accuracy: Schema.Finite,
    /** Share of ID validation images kept at the threshold (≥ 0.95). */
    idKept: Schema.Finite,
    metrics: Schema.Array(ValidationMetrics),
  }),
  scores: Schema.Struct({
    /** Bin edges shared by every distribution (ascending). */
    edges: Schema.Array(Schema.Finite),
    id: ScoreDistribution,
    ood: Schema.Array(ScoreDistribution),
  }),
});
/** A decoded manifest. */
export type FittedManifest = typeof FittedManifest.Type;
