/**
 * Bench section 3, k-NN on the real descriptors: exact (norm-pruned, and the full scan it
 * must equal bit for bit) and HNSW build and query time, HNSW recall@1 and @10 against exact,
 * and how query time grows with the index (a subset, all, and the set tiled with seeded noise).
 *
 * @module
 */
import { Effect } from "effect";
import { concatRows, type ImageSet, type Matrix, mulberry32 } from "../../lib/data/mod.ts";
import { exactIndex, HNSW_DEFAULTS, hnswIndex, recallAtK, searchStats } from "../../lib/knn/mod.ts";
import { extractFeatures, type Extraction, groodDescriptors } from "../../lib/stages/mod.ts";
import { type Bench, progress, sameBits, sampleRows } from "./context.ts";
import type { FitState } from "./fit_section.ts";
import { collectGarbage, median, repeat } from "./measure.ts";
import { figure } from "./report.ts";

/**
 * `copies` copies of the points, every copy but the first moved by seeded Gaussian noise of
 * standard deviation `sigma` per coordinate: a larger index with the real data's structure
 * (the first copy is the real set itself).
 */
export function tileWithNoise(points: Matrix, copies: number, sigma: number, seed: number): Matrix {
  const random = mulberry32(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const n = points.data.length;
  const data = new Float32Array(n * copies);
  for (let c = 0; c < copies; c++) {
    for (let i = 0; i < n; i++) {
      data[c * n + i] = points.data[i]! + (c === 0 ? 0 : sigma * gaussian());
    }
  }
  return { rows: points.rows * copies, cols: points.cols, data };
}

/** GROOD query descriptors of the ID test images, then of each OOD set. */
export interface RealQueries {
  readonly queries: Matrix;
  /** The first `idQueries` rows come from ID test images. */
  readonly idQueries: number;
}

/** The query descriptors of the ID test features and of the OOD images (forward passes). */
export const realQueries = Effect.fn("realQueries")(function* (
  bench: Bench,
  fit: FitState,
  test: Extraction,
  oodImages: ReadonlyArray<ImageSet>,
) {
  const { model, plan } = bench;
  const gp = fit.gp;
  const testExtraction = test;
  const oodPenultimate: Array<Matrix> = [];
  for (const set of oodImages) {
    oodPenultimate.push(
      (yield* extractFeatures(model, set, { batchSize: plan.batchSize })).features.penultimate,
    );
  }
  const queries: Matrix = yield* groodDescriptors(
    concatRows([testExtraction.features.penultimate, ...oodPenultimate]),
    gp,
  );
  return { queries, idQueries: test.features.penultimate.rows } satisfies RealQueries;
});

/** Measure k-NN speed and recall on the real descriptors and their tiled copies. */
export const knnSection = Effect.fn("knnSection")(function* (
  bench: Bench,
  fit: FitState,
  realQueries: RealQueries,
) {
  const { plan, timedRuns, emit, section, details } = bench;
  const { descriptors, index } = fit;
  section("k-NN on the real descriptors");
  const { queries, idQueries } = realQueries;
  // Typical spacing of the real descriptors: median distance to the nearest other descriptor.
  const spacingSample = sampleRows(descriptors, 1000, 3);
  const spacing = yield* index.search(spacingSample, 2);
  const nnDistance = median(
    Array.from({ length: spacing.rows }, (_, q) => spacing.distances[q * 2 + 1]!),
  );
  const sigma = plan.tileNoise * nnDistance / Math.sqrt(descriptors.cols);
  details.knn = {
    queries: { total: queries.rows, idTest: idQueries, ood: queries.rows - idQueries },
    hnswParams: HNSW_DEFAULTS,
    medianNearestNeighbourDistance: nnDistance,
    tileNoiseSigma: sigma,
    steps: [] as Array<unknown>,
  };
  for (const step of plan.scaling) {
    const points = step.points.kind === "all"
      ? descriptors
      : step.points.kind === "subset"
      ? sampleRows(descriptors, step.points.size, 1)
      : tileWithNoise(descriptors, step.points.copies, sigma, 4);
    const stepQueries = sampleRows(queries, step.queries, 2);
    const tag = `knn.${step.label}`;
    // Labels say the real size (the plan's label is the id: quick runs index fewer rows).
    const size = points.rows >= 1000
      ? `${(points.rows / 1000).toFixed(points.rows % 1000 === 0 ? 0 : 1)}k`
      : String(points.rows);
    const what = `${points.rows} points, ${stepQueries.rows} queries`;
    progress(`k-NN ${step.label}: ${what}`);
    const exactBuild = yield* repeat(timedRuns, () => exactIndex(points));
    const exact = exactBuild.last;
    const exactSearch = yield* repeat(timedRuns, () => exact.search(stepQueries, 1));
    const visited = searchStats(exact)!;
    // The same kernel without norm pruning: the speed-up, and the check that nothing changed.
    const plain = yield* exactIndex(points, { pruning: false });
    const plainSearch = yield* repeat(timedRuns, () => plain.search(stepQueries, 1));
    plain.dispose();
    const identical = sameBits(plainSearch.last.indices, exactSearch.last.indices) &&
      sameBits(plainSearch.last.distances, exactSearch.last.distances);
    progress(`k-NN ${step.label}: HNSW build${step.hnswBuildOnce ? " (once)" : ""}`);
    // No warm-up for HNSW builds: each is long (seconds to minutes), JIT warm-up is noise.
    const hnswBuild = yield* repeat(
      { warmup: 0, runs: step.hnswBuildOnce ? 1 : plan.runs },
      () => hnswIndex(points, { seed: 0 }),
    );
    const hnsw = hnswBuild.last;
    const hnswSearch = yield* repeat(timedRuns, () => hnsw.search(stepQueries, 1));
    const recall1 = recallAtK(hnswSearch.last, exactSearch.last, 1);
    const perQuery = (seconds: ReadonlyArray<number>) =>
      seconds.map((s) => (1000 * s) / stepQueries.rows);
    const real = step.points.kind === "all";
    emit(
      figure(
        `${tag}.exact_build`,
        `k-NN ${size}: exact build`,
        "s",
        exactBuild.seconds,
      ),
    );
    emit(
      figure(
        `${tag}.exact_query`,
        `k-NN ${size}: exact 1-NN query`,
        "ms/query",
        perQuery(exactSearch.seconds),
        { note: what },
      ),
    );
    emit(
      figure(
        `${tag}.exact_plain_query`,
        `k-NN ${size}: exact 1-NN query without norm pruning`,
        "ms/query",
        perQuery(plainSearch.seconds),
        { note: "the full scan: every point block" },
      ),
    );
    emit(
      figure(
        `${tag}.pruning_speedup`,
        `k-NN ${size}: norm pruning speed-up (same results: ${identical ? "yes" : "NO"})`,
        "x",
        plainSearch.seconds.map((s, i) => s / exactSearch.seconds[i]!),
        {
          note: `${visited.blocksVisited} of ${visited.blocksTotal} point blocks computed (${
            (100 * visited.blocksVisited / visited.blocksTotal).toFixed(1)
          }%); neighbours and distances ${identical ? "bit-identical" : "DIFFER"}`,
        },
      ),
    );
    if (!identical) {
      return yield* Effect.die(new Error(`k-NN ${size}: pruned and full-scan results differ`));
    }
    emit(
      figure(
        `${tag}.hnsw_build`,
        `k-NN ${size}: HNSW build`,
        "s",
        hnswBuild.seconds,
        {
          note: step.hnswBuildOnce ? "measured once (too slow to repeat)" : "no warm-up run",
        },
      ),
    );
    emit(
      figure(
        `${tag}.hnsw_query`,
        `k-NN ${size}: HNSW 1-NN query`,
        "ms/query",
        perQuery(hnswSearch.seconds),
        { note: what },
      ),
    );
    emit(
      figure(
        `${tag}.hnsw_recall1`,
        `k-NN ${size}: HNSW recall@1 vs exact`,
        "ratio",
        [recall1],
        real
          ? { target: { op: ">=", value: 0.99 }, note: "real descriptors, default parameters" }
          : { note: step.points.kind === "tiled" ? "tiled with noise" : "subset" },
      ),
    );
    const stepDetails: Record<string, unknown> = {
      step: step.label,
      points: points.rows,
      queries: stepQueries.rows,
      recall1,
    };
    if (real) {
      // Recall@10, and recall@1 of ID and OOD queries separately (queries = all, in order).
      const exact10 = yield* exact.search(stepQueries, 10);
      const hnsw10 = yield* hnsw.search(stepQueries, 10);
      emit(
        figure(`${tag}.hnsw_recall10`, `k-NN ${size}: HNSW recall@10 vs exact`, "ratio", [
          recallAtK(hnsw10, exact10, 10),
        ]),
      );
      const part = (from: number, to: number) => {
        const slice = (
          r: { rows: number; k: number; distances: Float64Array; indices: Int32Array },
        ) => ({
          rows: to - from,
          k: r.k,
          distances: r.distances.subarray(from * r.k, to * r.k),
          indices: r.indices.subarray(from * r.k, to * r.k),
        });
        return recallAtK(slice(hnswSearch.last), slice(exactSearch.last), 1);
      };
      stepDetails.recall1Id = part(0, idQueries);
      stepDetails.recall1Ood = part(idQueries, stepQueries.rows);
    }
    (details.knn as { steps: Array<unknown> }).steps.push(stepDetails);
    exact.dispose();
    hnsw.dispose();
    collectGarbage();
  }
});
