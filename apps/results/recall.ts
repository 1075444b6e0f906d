/**
 * How good is the approximate index on GROOD's real descriptors? Build the exact and the HNSW
 * index over a fitted GROOD's training descriptors, query both with the descriptors of the ID
 * test and OOD test sets, and measure recall@k of HNSW against exact.
 *
 * @module
 */
import { Data, Effect } from "effect";
import type { InvalidParameter, NonFiniteInput } from "../../mod.ts";
import { concatRows, matrix } from "../../lib/data/mod.ts";
import { groodDescriptors, type ShapeMismatch } from "../../lib/stages/mod.ts";
import {
  exactIndex,
  HNSW_DEFAULTS,
  hnswIndex,
  type IndexBuildError,
  recallAtK,
  type SearchError,
} from "../../lib/knn/mod.ts";
import type { DetectorRun, PreparedBenchmark } from "../../lib/pipeline/mod.ts";

/** The run did not expose what the measurement needs (it is not a gradient GROOD run). */
export class MissingArtefact extends Data.TaggedError("MissingArtefact")<{
  readonly detector: string;
  readonly artefact: string;
}> {
  /** Names the detector and the artefact it lacks. */
  override get message(): string {
    return `Cannot measure HNSW recall on "${this.detector}": it exposes no "${this.artefact}"`;
  }
}

/** Recall of HNSW (default parameters) against exact search. */
export interface RecallReport {
  /** Number of points indexed (the training descriptors). */
  readonly indexed: number;
  /** Number of query points searched. */
  readonly queries: number;
  /** Recall@1: share of queries whose exact nearest neighbour HNSW returns, in [0, 1]. */
  readonly recallAt1: number;
  /** Recall@10: mean share of the exact 10 neighbours among HNSW's 10, in [0, 1]. */
  readonly recallAt10: number;
  /** The HNSW parameters measured (the defaults). */
  readonly params: typeof HNSW_DEFAULTS;
  /** Seconds of the exact search (wall clock). */
  readonly exactSeconds: number;
  /** Seconds to build the HNSW index (wall clock). */
  readonly hnswBuildSeconds: number;
  /** Seconds of the HNSW search (wall clock). */
  readonly hnswQuerySeconds: number;
}

/**
 * Why HNSW's recall cannot be measured: the run lacks an artefact, the descriptors cannot be
 * computed, or an index cannot be built or searched.
 */
export type RecallError =
  | MissingArtefact
  | InvalidParameter
  | NonFiniteInput
  | ShapeMismatch
  | IndexBuildError
  | SearchError;

/** Measure HNSW's recall on the descriptors a GROOD run exposes as artefacts. */
export const hnswRecall: (
  prepared: PreparedBenchmark,
  run: DetectorRun,
) => Effect.Effect<RecallReport, RecallError> = Effect.fn("hnswRecall")(function* (
  prepared: PreparedBenchmark,
  run: DetectorRun,
) {
  const artefact = (name: string) => {
    const found = run.artefacts?.find((a) => a.name === name);
    return found === undefined
      ? Effect.fail(new MissingArtefact({ detector: run.detector, artefact: name }))
      : Effect.succeed(found);
  };
  const descriptors = yield* artefact("train-descriptors");
  const classes = yield* artefact("class-prototypes-penultimate");
  const ood = yield* artefact("ood-prototype");
  const points = matrix(descriptors.shape[0]!, descriptors.shape[1]!, descriptors.data);
  const prototypes = {
    classes: matrix(classes.shape[0]!, classes.shape[1]!, classes.data),
    ood: ood.data,
  };
  const queries = concatRows(
    yield* Effect.forEach(
      [prepared.idTest, ...prepared.oodTest],
      (set) =>
        groodDescriptors(
          set.features.penultimate,
          prototypes,
          typeof run.settings.temperature === "number" ? run.settings.temperature : 1,
        ),
    ),
  );
  // Each index is released by its scope, also when a search fails or the run is interrupted.
  const { truth, exactSeconds, found, hnswBuildSeconds, hnswQuerySeconds } = yield* Effect.scoped(
    Effect.gen(function* () {
      const exact = yield* Effect.acquireRelease(
        exactIndex(points),
        (index) => Effect.sync(() => index.dispose()),
      );
      const exactStart = performance.now();
      const truth = yield* exact.search(queries, 10);
      const exactSeconds = (performance.now() - exactStart) / 1000;
      const buildStart = performance.now();
      const hnsw = yield* Effect.acquireRelease(
        hnswIndex(points, { seed: 0 }),
        (index) => Effect.sync(() => index.dispose()),
      );
      const hnswBuildSeconds = (performance.now() - buildStart) / 1000;
      const queryStart = performance.now();
      const found = yield* hnsw.search(queries, 10);
      const hnswQuerySeconds = (performance.now() - queryStart) / 1000;
      return { truth, exactSeconds, found, hnswBuildSeconds, hnswQuerySeconds };
    }),
  );
  const report: RecallReport = {
    indexed: points.rows,
    queries: queries.rows,
    recallAt1: recallAtK(found, truth, 1),
    recallAt10: recallAtK(found, truth, 10),
    params: HNSW_DEFAULTS,
    exactSeconds,
    hnswBuildSeconds,
    hnswQuerySeconds,
  };
  return report;
});
