/**
 * Export every stage's output as NumPy `.npy` files with a JSON manifest (shape, dtype, sha256,
 * description of each file), so results can be checked from any other tool:
 * penultimate features and logits per set, labels of the ID sets, each detector's scores per
 * set, GROOD's prototypes, OOD prototype and training descriptors, and optionally the early
 * features (large: 6,272 floats per image at block1) of the test sets.
 *
 * @module
 */
import { Effect } from "effect";
import { join } from "node:path";
import { Compute } from "../../mod.ts";
import { batches, type ImageSet } from "../../lib/data/mod.ts";
import { type Classifier, toInput } from "../../lib/model/mod.ts";
import type { DetectorRun, PreparedBenchmark } from "../../lib/pipeline/mod.ts";
import {
  type CorruptNpy,
  decodeNpy,
  type NpyDtype,
  NpyIoError,
  type NpyShapeMismatch,
  sha256Hex,
  writeJsonAtomic,
  writeNpyAtomic,
} from "../../lib/io/mod.ts";

/** What to list in an export manifest: a `.npy` file in the folder and what it holds. */
export interface ExportRequest {
  readonly file: string;
  readonly description: string;
}

/** One manifest entry: shape and dtype read back from the file itself, and its sha256. */
export interface ExportEntry {
  /** The file's name inside the folder. */
  readonly file: string;
  /** Its array's shape, read from the file. */
  readonly shape: ReadonlyArray<number>;
  /** Its element type, read from the file. */
  readonly dtype: NpyDtype;
  /** sha256 of the file (lower-case hex). */
  readonly sha256: string;
  /** What the array holds. */
  readonly description: string;
}

/** The manifest file name written by {@link writeExportManifest}. */
export const MANIFEST_FILE = "manifest.json";

/**
 * Write `dir/manifest.json` describing `.npy` exports already written in `dir`.
 *
 * Why read the files back instead of trusting the caller: the manifest then cannot disagree
 * with the bytes on disk (shape, dtype and checksum all come from the file).
 */
export const writeExportManifest = (
  dir: string,
  requests: ReadonlyArray<ExportRequest>,
): Effect.Effect<ReadonlyArray<ExportEntry>, CorruptNpy | NpyIoError> =>
  Effect.gen(function* () {
    const entries: ExportEntry[] = [];
    for (const request of requests) {
      const path = join(dir, request.file);
      const bytes = yield* Effect.tryPromise({
        try: () => Deno.readFile(path),
        catch: (cause) => new NpyIoError({ path, cause }),
      });
      const array = yield* decodeNpy(bytes, path);
      entries.push({
        file: request.file,
        shape: array.shape,
        dtype: array.dtype,
        sha256: sha256Hex(bytes),
        description: request.description,
      });
    }
    const manifestPath = join(dir, MANIFEST_FILE);
    yield* Effect.tryPromise({
      try: () => writeJsonAtomic(manifestPath, { format: "npy", files: entries }),
      catch: (cause) => new NpyIoError({ path: manifestPath, cause }),
    });
    return entries;
  });

/** A file-system-safe form of a name. */
const slug = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, "_");

/** Early features (flattened) of every image of `set` at `boundary`, N × F, on `Compute`. */
const earlyFeatures = (
  net: Classifier,
  set: ImageSet,
  boundary: string,
  batchSize = 250,
): Effect.Effect<{ data: Float32Array; shape: [number, number] }, never, Compute> =>
  Compute.useSync(({ tf }) => {
    const size = net.shapeAt(boundary).reduce((a, b) => a * b, 1);
    const data = new Float32Array(set.count * size);
    for (const batch of batches(set, batchSize)) {
      const values = tf.tidy(() =>
        net.forward(toInput(tf, batch.pixels, batch.size, net.spec.inputShape), { to: boundary })
          .dataSync() as Float32Array
      );
      data.set(values, batch.start * size);
    }
    return { data, shape: [set.count, size] };
  });

/**
 * Write the exports of a benchmark run into `dir` (plus `dir/manifest.json`); with
 * `earlyBoundary`, the test sets' features at that boundary too (computed on `Compute`).
 */
export const writeExports: (
  dir: string,
  prepared: PreparedBenchmark,
  runs: ReadonlyArray<DetectorRun>,
  options?: { readonly earlyBoundary?: string },
) => Effect.Effect<
  ReadonlyArray<ExportEntry>,
  NpyShapeMismatch | CorruptNpy | NpyIoError,
  Compute
> = Effect.fn("writeExports")(function* (
  dir: string,
  prepared: PreparedBenchmark,
  runs: ReadonlyArray<DetectorRun>,
  options: { readonly earlyBoundary?: string } = {},
) {
  const requests: Array<ExportRequest> = [];
  const write = (
    file: string,
    data: Float64Array | Float32Array | Uint8Array,
    shape: ReadonlyArray<number>,
    description: string,
  ) =>
    Effect.map(writeNpyAtomic(join(dir, file), data, shape), () => {
      requests.push({ file, description });
    });
  const sets = [
    { label: "train", set: prepared.train },
    { label: "id-test", set: prepared.idTest },
    { label: "id-validation", set: prepared.idValidation },
    ...prepared.oodTest.map((s) => ({ label: `ood-${s.group}-${s.images.name}`, set: s })),
    ...prepared.oodValidation.map((s) => ({ label: `ood-validation-${s.images.name}`, set: s })),
  ];
  for (const { label, set } of sets) {
    const { penultimate, logits, labels } = set.features;
    yield* write(
      `features/${slug(label)}-penultimate.npy`,
      penultimate.data,
      [penultimate.rows, penultimate.cols],
      `penultimate (pool) features of ${set.images.name}, N × D`,
    );
    yield* write(
      `features/${slug(label)}-logits.npy`,
      logits.data,
      [logits.rows, logits.cols],
      `logits of ${set.images.name}, N × C`,
    );
    if (labels !== undefined) {
      yield* write(
        `features/${slug(label)}-labels.npy`,
        labels,
        [labels.length],
        `labels of ${set.images.name}`,
      );
    }
  }
  for (const run of runs) {
    for (const [set, scores] of run.scores) {
      yield* write(
        `scores/${slug(run.detector)}/${slug(set)}.npy`,
        scores,
        [scores.length],
        `${run.detector} scores of ${set === "id" ? "the ID test set" : set} (higher = more OOD)`,
      );
    }
    for (const artefact of run.artefacts ?? []) {
      yield* write(
        `artefacts/${slug(run.detector)}/${slug(artefact.name)}.npy`,
        artefact.data,
        artefact.shape,
        `${run.detector}: ${artefact.description}`,
      );
    }
  }
  // Early features are read from grood's own tfjs network (other models export none).
  const net = prepared.model.features.network;
  if (options.earlyBoundary !== undefined && net !== undefined) {
    for (const { label, set } of sets.filter((s) => s.label !== "train")) {
      const early = yield* earlyFeatures(net, set.images, options.earlyBoundary);
      yield* write(
        `features/${slug(label)}-${slug(options.earlyBoundary)}.npy`,
        early.data,
        early.shape,
        `${options.earlyBoundary} features of ${set.images.name}, flattened from [${
          net.shapeAt(options.earlyBoundary).join(", ")
        }]`,
      );
    }
  }
  return yield* writeExportManifest(dir, requests);
});
