/**
 * The `hnsw` index kind (`../hnsw.ts`). A saved one is its points, its graph in hnswlib's format
 * (`graph.hnsw`) and the graph's parameters.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { CorruptIndex } from "../errors.ts";
import { FileEntry, readChecked, readMatrixFile, writeFileWith, writePoints } from "../files.ts";
import {
  type HnswIndex,
  hnswIndex,
  hnswIndexes,
  loadHnsw,
  wrapHnsw,
  writeHnswGraph,
} from "../hnsw.ts";
import { Count, defineIndexKind, RecallTarget, Whole } from "../kind.ts";

/** The hnsw kind's spec. */
export const HnswSpec = Schema.Struct({
  kind: Schema.Literal("hnsw"),
  /** Links per node (default 16). */
  m: Schema.optionalKey(Count.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(2)))),
  /** Candidate list size while building (default 200). */
  efConstruction: Schema.optionalKey(Count),
  /** Candidate list size while searching; absent: calibrated to `recallTarget`. */
  efSearch: Schema.optionalKey(Count),
  /** recall@1 the calibrated efSearch must reach (default 0.995; unused with `efSearch`). */
  recallTarget: Schema.optionalKey(RecallTarget),
});

/** What a saved HNSW index records in `index.json`: its files and its graph's parameters. */
export const HnswMetadata = Schema.Struct({
  points: FileEntry,
  graph: FileEntry,
  params: Schema.Struct({
    M: Count.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(2))),
    efConstruction: Count,
    efSearch: Count,
    seed: Whole,
  }),
});

const GRAPH_FILE = "graph.hnsw";

/** The hnsw kind (see the module doc). */
export const hnswKind = defineIndexKind({
  kind: "hnsw",
  description:
    "hnswlib-node's HNSW graph (approximate), efSearch calibrated to a recall@1 target, float64 re-ranking",
  spec: HnswSpec,
  metadata: HnswMetadata,
  build: (points, spec, context) =>
    hnswIndex(points, {
      ...(spec.m === undefined ? {} : { M: spec.m }),
      ...(spec.efConstruction === undefined ? {} : { efConstruction: spec.efConstruction }),
      ...(spec.efSearch === undefined
        ? { calibrate: spec.recallTarget === undefined ? {} : { recallTarget: spec.recallTarget } }
        : { efSearch: spec.efSearch }),
      seed: context.seed,
      name: context.name,
    }),
  owns: (index): index is HnswIndex => hnswIndexes.owns(index),
  save: (index, dir) =>
    Effect.gen(function* () {
      const points = yield* writePoints(index.points, dir);
      const graph = yield* writeFileWith(dir, GRAPH_FILE, (path) => writeHnswGraph(index, path));
      return { points, graph, params: index.params };
    }),
  load: (saved, metadata) =>
    Effect.gen(function* () {
      const { dir, size, dim } = saved;
      const corrupt = (problem: string) => Effect.fail(new CorruptIndex({ path: dir, problem }));
      const points = yield* readMatrixFile(dir, metadata.points, size, dim);
      const { path } = yield* readChecked(dir, metadata.graph);
      const hnsw = yield* loadHnsw;
      const graph = new hnsw.HierarchicalNSW("l2", dim);
      const file = metadata.graph.file;
      try {
        graph.readIndexSync(path);
      } catch (error) {
        return yield* corrupt(`${file} is not a readable HNSW graph (${String(error)})`);
      }
      if (graph.getCurrentCount() !== size || graph.getNumDimensions() !== dim) {
        return yield* corrupt(
          `${file} holds ${graph.getCurrentCount()} points of dim ${graph.getNumDimensions()}, index.json says ${size} of ${dim}`,
        );
      }
      graph.setEf(metadata.params.efSearch);
      return wrapHnsw(graph, points, metadata.params, dir);
    }),
});
