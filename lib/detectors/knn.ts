/**
 * Deep nearest neighbours (Sun et al., ICML 2022; OpenOOD v1.5 `knn`): score(x) = the Euclidean
 * distance from h/(‖h‖₂ + 1e-10) to its k-th nearest normalised training feature, exact index.
 * Default k = 50; with `kGrid`, k is tuned on validation data (one search with the largest k).
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type Matrix, matrix, rowNorms } from "../matrix.ts";
import { exactIndex, type NearestNeighbourIndex, type Neighbours } from "../knn/mod.ts";
import { type Detector, type ExtractedSet, fittedDetector } from "./detector.ts";
import { checkSet, requireSetting, scoreChecked } from "./checks.ts";
import { tuneUnlessFixed } from "./tune.ts";
import {
  baselineEntry,
  type Expect,
  Grid,
  optionDefaults,
  type OptionsMatch,
  PositiveInt,
  withDefault,
} from "./entry.ts";

const KnnOptionsSpec = Schema.Struct({
  k: withDefault(PositiveInt, 50),
  kGrid: Schema.optionalKey(Grid(PositiveInt)),
});

/** Options of {@link knn}. */
export interface KnnOptions {
  /** Neighbour rank k (default 50); ignored when `kGrid` is given. */
  readonly k?: number;
  /** Tune k on validation data over this grid instead of using `k`. */
  readonly kGrid?: ReadonlyArray<number>;
}
type _Checked = Expect<OptionsMatch<KnnOptions, typeof KnnOptionsSpec>>;
const KNN_DEFAULTS = optionDefaults(KnnOptionsSpec);

/**
 * Row-wise h / (‖h‖₂ + 1e-10), as the reference code normalises (float64 norms). A plain loop:
 * it runs over every training feature at fit and every batch at scoring.
 */
export function l2Normalise(features: Matrix): Matrix {
  const { rows, cols, data } = features;
  const norms = rowNorms(data, rows, cols);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const scale = 1 / (norms[i]! + 1e-10);
    for (let j = 0; j < cols; j++) out[i * cols + j] = data[i * cols + j]! * scale;
  }
  return matrix(rows, cols, out);
}

/** The distance to the k-th neighbour (1-based) of every query, from a search with ≥ k. */
export function kthDistance(neighbours: Neighbours, k: number): Float64Array {
  return Float64Array.from(
    { length: neighbours.rows },
    (_, q) => neighbours.distances[q * neighbours.k + k - 1]!,
  );
}

/** The KNN detector: distance to the k-th nearest normalised training feature. */
export function knn(options: KnnOptions = {}): Detector {
  const name = "KNN";
  const tuning = options.kGrid !== undefined;
  const ks = options.kGrid ?? [options.k ?? KNN_DEFAULTS.k];
  return {
    name,
    description:
      `KNN: distance to the k-th nearest L2-normalised training penultimate feature, k = ${
        tuning ? "tuned on validation" : ks[0]
      } (Sun et al., ICML 2022)`,
    fit: (inputs) =>
      Effect.gen(function* () {
        const trainFeatures = inputs.train.features;
        const d = trainFeatures.penultimate.cols;
        yield* checkSet(name, inputs.train, {});
        yield* requireSetting(
          ks.length > 0 && ks.every((k) => Number.isInteger(k) && k >= 1),
          name,
          tuning ? "kGrid" : "k",
          tuning ? ks : ks[0],
          "positive integers",
        );
        const index: NearestNeighbourIndex = yield* exactIndex(
          l2Normalise(trainFeatures.penultimate),
          { name: `KNN index of the normalised penultimate features of "${trainFeatures.name}"` },
        );
        const neighboursOf = (set: ExtractedSet, k: number) =>
          index.search(l2Normalise(set.features.penultimate), k);

        // One search per validation set with the largest k; each grid k reads its column.
        const largest = Math.max(...ks);
        const cache = new Map<ExtractedSet, Neighbours>();
        const { chosen: k, tuned } = yield* tuneUnlessFixed(tuning ? undefined : ks[0], {
          detector: name,
          parameter: "k",
          grid: ks,
          validation: inputs.validation,
          candidate: (value) =>
            Effect.succeed({
              score: (set: ExtractedSet) =>
                scoreChecked(name, set, { penultimate: d }, () =>
                  Effect.gen(function* () {
                    const neighbours = cache.get(set) ?? (yield* neighboursOf(set, largest));
                    cache.set(set, neighbours);
                    return kthDistance(neighbours, value);
                  })),
            }),
        }).pipe(
          Effect.ensuring(Effect.sync(() => cache.clear())),
          Effect.tapError(() => Effect.sync(() => index.dispose())),
        );
        return fittedDetector({
          score: (set) =>
            scoreChecked(
              name,
              set,
              { penultimate: d },
              () => Effect.map(neighboursOf(set, k), (neighbours) => kthDistance(neighbours, k)),
            ),
          settings: { k, normalisation: "l2", index: "exact", indexed: index.size },
          tuned,
          dispose: () => index.dispose(),
        });
      }),
  };
}

export const knnEntry = baselineEntry(knn, {
  kind: "knn",
  title: "KNN",
  source: "Sun et al., ICML 2022; OpenOOD `knn`",
  options: KnnOptionsSpec,
});
