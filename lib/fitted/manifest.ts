/**
 * `detector.json`, the manifest of a fitted-detector folder: what was fitted (detector kind
 * and settings), on which model (kind, content hash, taps, input preprocessing) and data
 * (checksums), the files of its state (each with its sha256), the decision threshold, the
 * validation metrics, and the validation score distributions (histograms and quantile samples,
 * for a UI to draw). Decoded with a strict Schema (a key it does not declare is refused by
 * name): a folder whose manifest does not decode is refused, not half-read.
 *
 * Integrity: the manifest lists every other file of the folder with its size and sha256, and
 * its own `digest` is the sha256 of `detector.json` as written, with the digest's 64 hex digits
 * replaced by zeros ({@link sealManifest}, {@link digestProblem}). The digest is the folder's
 * version: any edit of any byte of any file (threshold, k, temperature, preprocessing, taps,
 * class names, a state array, the model) is refused on load as `FittedFolderDamaged`, naming
 * the file; so is a file the manifest does not list.
 *
 * Folder layout (version 2):
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
import { ClassNames } from "../decode.ts";
import { sha256Hex } from "../io/files.ts";
import { InsidePath } from "../io/paths.ts";
import { InputSpecSchema, TapsSchema } from "../models/model.ts";
import { OOD_METRICS } from "../stages/evaluate.ts";

/** The manifest's file name. */
export const FITTED_MANIFEST_FILE = "detector.json";
/** The value of `format`. */
export const FITTED_FORMAT = "grood-fitted-detector";
/** The folder layout version this code writes and reads (2: `detector.json` has a digest). */
export const FITTED_VERSION = 2;

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
  path: InsidePath,
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

/**
 * The decoded `detector.json`.
 *
 * @ignore The schema is internal to writing and reading a fitted folder: the API is the type
 * `FittedManifest` (`readManifest`, `LoadedDetector.manifest`).
 */
export const FittedManifest = Schema.Struct({
  format: Schema.Literal(FITTED_FORMAT),
  version: Schema.Literal(FITTED_VERSION),
  /** sha256 of this file as written, with these 64 digits zeroed: the folder's version. */
  digest: Sha256,
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
    path: InsidePath,
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
    /** One name per logit, each once (`ClassNames`: a name given twice would name two classes). */
    classNames: ClassNames,
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

/** The digest's value while the file is hashed. */
const UNSEALED = "0".repeat(64);
/** The digest's line: a top-level key (nested keys are indented deeper). */
const digestLine = (hex: string) => `\n  "digest": "${hex}"`;
const encoder = new TextEncoder();

/**
 * The text of `detector.json` for `manifest`, with its digest: the sha256 of the text written
 * with a zero digest. Returns the text and the manifest with the digest filled in.
 *
 * @example
 * ```ts ignore
 * const { text } = sealManifest(manifest);
 * if (digestProblem(text) !== undefined) throw new Error("not sealed");
 * if (digestProblem(text.replace('"threshold": 1', '"threshold": 2')) === undefined) {
 *   throw new Error("an edit went unnoticed");
 * }
 * ```
 */
export function sealManifest(
  manifest: FittedManifest,
): { readonly text: string; readonly manifest: FittedManifest } {
  const unsealed = JSON.stringify({ ...manifest, digest: UNSEALED }, null, 2) + "\n";
  const digest = sha256Hex(encoder.encode(unsealed));
  return {
    text: unsealed.replace(digestLine(UNSEALED), digestLine(digest)),
    manifest: { ...manifest, digest },
  };
}

/**
 * Why the text of a `detector.json` does not match its own digest (undefined when it does):
 * a byte changed anywhere in the file, or the digest line is missing or doubled.
 */
export function digestProblem(text: string): string | undefined {
  const found = [...text.matchAll(/\n {2}"digest": "([0-9a-f]{64})"/g)];
  if (found.length !== 1) {
    return "it was changed after it was written (" +
      (found.length === 0
        ? "rewritten: the digest is not on its own line where grood writes it)"
        : "it has more than one digest line)");
  }
  const digest = found[0]![1]!;
  const actual = sha256Hex(encoder.encode(text.replace(digestLine(digest), digestLine(UNSEALED))));
  return actual === digest ? undefined : `it was changed after it was written (its digest ` +
    `${digest.slice(0, 12)}… does not match its content, ${actual.slice(0, 12)}…)`;
}
