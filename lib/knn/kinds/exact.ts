/**
 * The `exact` index kind: brute force over the WebAssembly SIMD kernel (`../exact.ts`). Its
 * spec has no options; a saved one is its points (`points.npy`), rebuilt into the same index on
 * load (the build is deterministic).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type ExactIndex, exactIndex, exactIndexes } from "../exact.ts";
import { FileEntry, readPoints, writePoints } from "../files.ts";
import { defineIndexKind } from "../kind.ts";

/** The exact kind's spec: `{ "kind": "exact" }`. */
export const ExactSpec = Schema.Struct({ kind: Schema.Literal("exact") });

/** What a saved exact index records in `index.json`: its points file. */
export const ExactMetadata = Schema.Struct({ points: FileEntry });

/** The exact kind (see the module doc). */
export const exactKind = defineIndexKind({
  kind: "exact",
  description: "brute force over a WebAssembly SIMD kernel, norm-pruned, float64 re-ranking",
  spec: ExactSpec,
  metadata: ExactMetadata,
  build: (points, _spec, context) => exactIndex(points, { name: context.name }),
  owns: (index): index is ExactIndex => exactIndexes.owns(index),
  save: (index, dir) => Effect.map(writePoints(index.points, dir), (points) => ({ points })),
  load: (saved, metadata) =>
    Effect.flatMap(
      readPoints(saved.dir, metadata.points, saved.size, saved.dim),
      (points) => exactIndex(points, { name: saved.dir }),
    ),
});
