/**
 * The contents of a fitted folder, written into the temporary folder `writeOutputFolder`
 * renames into place: the model copy with its hashes, the state as `.npy` files, and the sealed
 * manifest with its score distributions (histograms over one grid, quantiles, for a UI).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { Effect, Schema } from "effect";
import { type IoError, sha256Hex, tryIo } from "../io/files.ts";
import { encodeNpy } from "../io/npy.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { ModelUnreadable } from "../models/errors.ts";
import { contentKey, hashModel } from "../models/files.ts";
import { DegenerateScores, FitDataInvalid } from "./errors.ts";
import {
  type FileEntry,
  FITTED_MANIFEST_FILE,
  FittedManifest,
  type ScoreDistribution,
  sealManifest,
  type StateEntry,
} from "./manifest.ts";
import type { StateArray } from "./persist.ts";

/** The copied files and the path `openModel` opens, relative to the folder. */
export interface CopiedModel {
  readonly path: string;
  readonly files: ReadonlyArray<FileEntry>;
  readonly sha256: string;
}

/** Copy `model` into `into` (undefined: only hash) and hash each file, listed under `prefix`. */
export const copyModel = (
  model: string,
  into: string | undefined,
  prefix: string,
): Effect.Effect<CopiedModel, ModelUnreadable | IoError | LinkLeavesRoot | PathOutsideBase> =>
  Effect.gen(function* () {
    const hashed = yield* hashModel(model, (rel, bytes) => {
      if (into === undefined) return Effect.void;
      const target = join(into, rel);
      return tryIo(target, "write", async () => {
        await Deno.mkdir(dirname(target), { recursive: true });
        await Deno.writeFile(target, bytes);
      });
    });
    const entries = hashed.files.map((f) => ({ ...f, path: join(prefix, f.path) }));
    return {
      path: hashed.open === "" ? prefix : join(prefix, hashed.open),
      files: entries,
      sha256: contentKey(entries),
    };
  });

/** Fail when every ID validation score is the same: a threshold over them decides nothing. */
export const refuseDegenerate = (
  scores: Float64Array,
  detector: string,
  source: string,
): Effect.Effect<void, DegenerateScores> =>
  scores.length > 1 && scores.every((s) => s === scores[0])
    ? Effect.fail(
      new DegenerateScores({ detector, source, count: scores.length, score: scores[0]! }),
    )
    : Effect.void;

const HISTOGRAM_BINS = 40;

/** Histogram counts of `scores` over `edges` (values outside fall in the end bins). */
export const histogram = (scores: ArrayLike<number>, edges: ReadonlyArray<number>) => {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  const lo = edges[0]!;
  const width = (edges[bins]! - lo) / bins;
  for (let i = 0; i < scores.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((scores[i]! - lo) / width)));
    counts[b]! += 1;
  }
  return counts;
};

/** One set's scores summarised: histogram over `edges`, 101 quantiles, range and mean. */
export const distribution = (
  source: string,
  scores: Float64Array,
  edges: ReadonlyArray<number>,
): ScoreDistribution => {
  const sorted = Float64Array.from(scores).sort();
  const n = sorted.length;
  const quantiles = Array.from(
    { length: Math.min(101, n) },
    (_, q, all = Math.min(101, n)) => sorted[Math.round((q * (n - 1)) / Math.max(1, all - 1))]!,
  );
  return {
    source,
    counts: histogram(scores, edges),
    quantiles,
    min: sorted[0]!,
    max: sorted[n - 1]!,
    mean: sorted.reduce((a, b) => a + b, 0) / n,
  };
};

/** {@link HISTOGRAM_BINS} equal bins spanning every score of `sets`. */
export const edgesOf = (sets: ReadonlyArray<Float64Array>): ReadonlyArray<number> => {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of sets) for (const v of s) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (!(hi > lo)) (lo -= 0.5), (hi += 0.5);
  return Array.from(
    { length: HISTOGRAM_BINS + 1 },
    (_, i) => lo + ((hi - lo) * i) / HISTOGRAM_BINS,
  );
};

/** Fill `tmp`: the model copy (still `modelSha256`), the state files, the sealed manifest. */
export const fillFittedFolder = (
  tmp: string,
  model: string,
  modelSha256: string,
  arrays: ReadonlyArray<StateArray>,
  manifestOf: (state: ReadonlyArray<StateEntry>) => FittedManifest,
): Effect.Effect<
  FittedManifest,
  FitDataInvalid | ModelUnreadable | IoError | LinkLeavesRoot | PathOutsideBase
> =>
  Effect.gen(function* () {
    const copy = yield* copyModel(model, join(tmp, "model"), "model");
    if (copy.sha256 !== modelSha256) {
      return yield* new FitDataInvalid({
        source: model,
        problem: "the model's files changed while fitting",
      });
    }
    yield* tryIo(join(tmp, "state"), "create", () => Deno.mkdir(join(tmp, "state")));
    const state: Array<StateEntry> = [];
    for (const array of arrays) {
      const file = `state/${array.name}.npy`;
      const bytes = yield* Effect.orDie(encodeNpy(array.data, array.shape, file));
      yield* tryIo(join(tmp, file), "write", () => Deno.writeFile(join(tmp, file), bytes));
      state.push({
        name: array.name,
        description: array.description,
        shape: [...array.shape],
        file: { path: file, bytes: bytes.length, sha256: sha256Hex(bytes) },
      });
    }
    const sealed = sealManifest(Schema.decodeUnknownSync(FittedManifest)(manifestOf(state)));
    const path = join(tmp, FITTED_MANIFEST_FILE);
    yield* tryIo(path, "write", () => Deno.writeTextFile(path, sealed.text));
    return sealed.manifest;
  });
