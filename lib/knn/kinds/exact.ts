/**
 * The `exact` index kind (`../exact.ts`). A saved one is its points (`points.npy`), rebuilt into
 * the same index on load (the build is deterministic).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type ExactIndex, exactIndex, exactIndexes } from "../exact.ts";
import { FileEntry, readMatrixFile, writePoints } from "../files.ts";
import { Count, defineIndexKind } from "../kind.ts";

/** The exact kind's spec: `{ "kind": "exact", "threads"? }`. */
export const ExactSpec = Schema.Struct({
  kind: Schema.Literal("exact"),
  /** Threads a large search runs on (default two where the machine has them). */
  threads: Schema.optionalKey(Count),
});

/** What a saved exact index records in `index.json`: its points file. */
export const ExactMetadata = Schema.Struct({ points: FileEntry });

/** The exact kind (see the module doc). */
export const exactKind = defineIndexKind({
  kind: "exact",
  description: "brute force over a WebAssembly SIMD kernel, norm-pruned, float64 re-ranking",
  spec: ExactSpec,
  metadata: ExactMetadata,
  build: (points, { kind: _, ...options }, context) =>
    exactIndex(points, { ...options, name: context.name }),
  owns: (index): index is ExactIndex => exactIndexes.owns(index),
  save: (index, dir) => Effect.map(writePoints(index.points, dir), (points) => ({ points })),
  load: (saved, metadata) =>
    Effect.flatMap(
      readMatrixFile(saved.dir, metadata.points, saved.size, saved.dim),
      // The default threads are valid: the build cannot fail with an InvalidParameter.
      (points) =>
        exactIndex(points, { name: saved.dir }).pipe(
          Effect.catchTag("InvalidParameter", (error) => Effect.die(error)),
        ),
    ),
});
