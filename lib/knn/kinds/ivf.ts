/**
 * The `ivf` index kind: k-means lists each searched exactly by the SIMD kernel (`../ivf.ts`).
 * Spec: `{ "kind": "ivf", "lists"?, "nprobe"?, "recallTarget"?, "threads"? }` (defaults: √n
 * lists, nprobe calibrated to recall@1 0.995, one thread). A saved one is its points and its
 * settings; loading rebuilds the same lists from them (the build is deterministic).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { FileEntry, readPoints, writePoints } from "../files.ts";
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

/** What a saved IVF index records in `index.json`: its points and the settings it was built with. */
export const IvfMetadata = Schema.Struct({
  points: FileEntry,
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
    index.points === undefined
      ? Effect.fail(
        new IndexIoError({
          path: dir,
          cause: new Error(`${index.name} was built from chunks and keeps no points to save`),
        }),
      )
      : Effect.map(writePoints(index.points, dir), (points) => ({ points, ...index.ivf })),
  load: (saved, { points: entry, ...settings }) =>
    Effect.flatMap(
      readPoints(saved.dir, entry, saved.size, saved.dim),
      (points) =>
        ivfIndex(points, { ...settings, name: saved.dir }).pipe(
          Effect.catchTag("InvalidParameter", (error) =>
            Effect.fail(
              new CorruptIndex({
                path: saved.dir,
                problem: `index.json's ivf settings: ${error.message}`,
              }),
            )),
        ),
    ),
});
