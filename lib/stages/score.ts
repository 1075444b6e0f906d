/**
 * The GROOD score: the mean Euclidean distance from a sample's descriptor to its k nearest
 * training descriptors (k = 1: the nearest-neighbour distance, a monotone transform of the
 * reference's −d²). Higher = more OOD, as everywhere in grood.
 *
 * @module
 */
import { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import type { NearestNeighbourIndex, SearchError } from "../knn/mod.ts";
import { NonFiniteScore } from "./evaluate.ts";

/**
 * kNN distance score of each descriptor row against the indexed training descriptors.
 *
 * @example
 * ```ts
 * import { knnScore } from "./score.ts";
 * import { exactIndex } from "../knn/exact.ts";
 * import { matrix } from "../matrix.ts";
 * import { Effect } from "effect";
 * const index = Effect.runSync(exactIndex(matrix(2, 1, [0, 10])));
 * const scores = Effect.runSync(knnScore(index, matrix(2, 1, [1, 4]), 2));
 * // 1 -> (1 + 9) / 2 = 5;  4 -> (4 + 6) / 2 = 5
 * if (scores[0] !== 5 || scores[1] !== 5) throw new Error("wrong scores");
 * ```
 */
export const knnScore = (
  index: NearestNeighbourIndex,
  descriptors: Matrix,
  k = 1,
): Effect.Effect<Float64Array, SearchError | NonFiniteScore> =>
  Effect.flatMap(index.search(descriptors, k), ({ rows, distances }) => {
    const scores = new Float64Array(rows);
    for (let q = 0; q < rows; q++) {
      let sum = 0;
      for (let r = 0; r < k; r++) sum += distances[q * k + r]!;
      scores[q] = sum / k;
      // Finite descriptors give finite distances unless float32 overflows (values ~1e19).
      if (!Number.isFinite(scores[q]!)) {
        return Effect.fail(
          new NonFiniteScore({ set: `kNN scores from ${index.name}`, index: q, value: scores[q]! }),
        );
      }
    }
    return Effect.succeed(scores);
  });
