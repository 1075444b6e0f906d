/**
 * The `ivf` index kind (`../ivf.ts`). A saved one is its points, its centroids
 * (`centroids.npy`) and its settings: loading lays the points out in the same lists without
 * k-means. A folder saved before the centroids were still loads, by the same (deterministic)
 * k-means.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { FileEntry, readMatrixFile, writeMatrixFile, writePoints } from "../files.ts";
import { CorruptIndex, IndexIoError } from "../errors.ts";
import { type IvfIndex, ivfIndex, ivfIndexes } from "../ivf.ts";
import { Count, defineIndexKind, RecallTarget, Whole } from "../kind.ts";

/** The ivf kind's spec. */
export const IvfSpec = Schema.Struct({
  kind: Schema.Literal("ivf"),
  /** Number of lists (k-means centroids); default round(√n). */
  lists: Schema.optionalKey(Count),
  /** Lists each query visits; default: calibrated to `recallTarget`. */
  nprobe: Schema.optionalKey(Count),
  /** recall@1 the calibrated nprobe must reach (default 0.995). */
  recallTarget: Schema.optionalKey(RecallTarget),
  /** Threads a search runs on (default 1); results do not depend on it. */
  threads: Schema.optionalKey(Count),
});

/** The centroids' file name. */
const CENTROIDS_FILE = "centroids.npy";

/**
 * What a saved IVF index records in `index.json`: its points, its centroids (absent in folders
 * saved before they were) and the settings it was built with.
 */
export const IvfMetadata = Schema.Struct({
  points: FileEntry,
  centroids: Schema.optionalKey(FileEntry),
  lists: Count,
  nprobe: Count,
  iterations: Whole,
  seed: Whole,
});

/** The ivf kind (see the module doc). */
export const ivfKind = defineIndexKind({
  kind: "ivf",
  description:
    "k-means lists searched exactly by the SIMD kernel (approximate), nprobe calibrated to a recall@1 target",
  spec: IvfSpec,
  metadata: IvfMetadata,
  build: (points, { kind: _, ...options }, context) =>
    ivfIndex(points, { ...options, seed: context.seed, name: context.name }),
  owns: (index): index is IvfIndex => ivfIndexes.owns(index),
  save: (index, dir) =>
    Effect.gen(function* () {
      const points = index.points;
      if (points === undefined) {
        const cause = new Error(`${index.name} was built from chunks and keeps no points to save`);
        return yield* new IndexIoError({ path: dir, cause });
      }
      // The centroids too, so loading lays the points out in their lists without k-means.
      const lists = { rows: index.ivf.lists, cols: points.cols, data: index.centroids };
      const pointsEntry = yield* writePoints(points, dir);
      const centroids = yield* writeMatrixFile(lists, dir, CENTROIDS_FILE);
      return { points: pointsEntry, centroids, ...index.ivf };
    }),
  load: (saved, { points: entry, centroids: centroidsEntry, ...settings }) =>
    Effect.gen(function* () {
      const { dir, size, dim } = saved;
      const points = yield* readMatrixFile(dir, entry, size, dim);
      // Checked against its sha256 and its shape (lists × dim) as the points are.
      const centroids = centroidsEntry === undefined
        ? {}
        : { centroids: (yield* readMatrixFile(dir, centroidsEntry, settings.lists, dim)).data };
      const corrupt = (error: Error) =>
        Effect.fail(
          new CorruptIndex({ path: dir, problem: `index.json's ivf settings: ${error.message}` }),
        );
      const index = ivfIndex(points, { ...settings, name: dir, ...centroids });
      return yield* index.pipe(Effect.catchTag("InvalidParameter", corrupt));
    }),
});
