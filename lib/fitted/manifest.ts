/**
 * `detector.json`, the manifest of a fitted-detector folder, decoded strictly: what was fitted,
 * on which model and data, every other file with its sha256, the threshold, validation metrics
 * and score distributions. Its own `digest` (the sha256 of the text with the digest zeroed)
 * makes any edit of any file refused on load. Layout and rationale: `docs/internals/fitted.md`.
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
/** The folder layout version this code writes and reads. */
export const FITTED_VERSION = 2;

const Sha256 = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/, { message: "Expected a hex sha256" })),
);
const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
const Setting = Schema.Union([Schema.String, Schema.Finite, Schema.Boolean]);
const Shape = Schema.Array(Schema.Int);
const metricFields = Object.fromEntries(OOD_METRICS.map((m) => [m, Schema.Finite])) as {
  readonly [M in (typeof OOD_METRICS)[number]]: typeof Schema.Finite;
};

/** One file of the folder, with its size and sha256 (checked on load). */
export const FileEntry = Schema.Struct({ path: InsidePath, bytes: Count, sha256: Sha256 });
export type FileEntry = typeof FileEntry.Type;

/** One array of the fitted state. */
export const StateEntry = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  shape: Schema.Array(Count),
  file: FileEntry,
});
export type StateEntry = typeof StateEntry.Type;

const DataEntry = Schema.Struct({ source: Schema.String, count: Count, checksum: Sha256 });

/** AUROC, AUPR, FPR@95 of the ID validation set against one validation-OOD set. */
export const ValidationMetrics = Schema.Struct({
  source: Schema.String,
  ...metricFields,
  flaggedAtThreshold: Schema.Finite,
});
export type ValidationMetrics = typeof ValidationMetrics.Type;

/** A set's validation scores: a histogram over shared bin edges and evenly spaced quantiles. */
export const ScoreDistribution = Schema.Struct({
  source: Schema.String,
  counts: Schema.Array(Count),
  quantiles: Schema.Array(Schema.Finite),
  min: Schema.Finite,
  max: Schema.Finite,
  mean: Schema.Finite,
});
export type ScoreDistribution = typeof ScoreDistribution.Type;

/** @ignore The schema is internal: the API is the type `FittedManifest`. */
export const FittedManifest = Schema.Struct({
  format: Schema.Literal(FITTED_FORMAT),
  version: Schema.Literal(FITTED_VERSION),
  digest: Sha256,
  createdAt: Schema.String,
  detector: Schema.Struct({
    kind: Schema.String,
    name: Schema.String,
    spec: Schema.Record(Schema.String, Schema.Unknown),
    /** The settings in force after fitting (tuned values included). */
    settings: Schema.Record(Schema.String, Setting),
  }),
  model: Schema.Struct({
    kind: Schema.Literals(["grood", "onnx", "tfjs-layers", "tfjs-graph"]),
    source: Schema.String,
    path: InsidePath,
    sha256: Sha256,
    files: Schema.Array(FileEntry),
    input: InputSpecSchema,
    taps: TapsSchema,
    shapes: Schema.Struct({ input: Shape, early: Shape, penultimate: Shape, logits: Shape }),
    /** One name per logit, each once (`ClassNames`: a name given twice would name two classes). */
    classNames: ClassNames,
  }),
  data: Schema.Struct({
    train: DataEntry,
    validation: Schema.Struct({ ...DataEntry.fields, heldOut: Schema.Boolean }),
    validationOod: Schema.Array(DataEntry),
  }),
  state: Schema.Array(StateEntry),
  /** Score above which an image is called OOD: it keeps ≥ 95 % of the ID validation images. */
  threshold: Schema.Finite,
  validation: Schema.Struct({
    accuracy: Schema.Finite,
    idKept: Schema.Finite,
    metrics: Schema.Array(ValidationMetrics),
  }),
  scores: Schema.Struct({
    edges: Schema.Array(Schema.Finite),
    id: ScoreDistribution,
    ood: Schema.Array(ScoreDistribution),
  }),
});
/** A decoded manifest. */
export type FittedManifest = typeof FittedManifest.Type;

const UNSEALED = "0".repeat(64);
/** The digest's line: a top-level key (nested keys are indented deeper). */
const digestLine = (hex: string) => `\n  "digest": "${hex}"`;
const encoder = new TextEncoder();

/** `detector.json`'s text with its digest (the sha256 of the text with a zero digest). */
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

/** Why a `detector.json` text does not match its own digest (undefined when it does). */
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
