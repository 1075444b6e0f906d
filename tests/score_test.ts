import assert from "node:assert/strict";
import { Effect } from "effect";
import { knnScore } from "../lib/stages/score.ts";
import { exactIndex } from "../lib/knn/exact.ts";
import { matrix } from "../lib/matrix.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>): E => Effect.runSync(Effect.flip(effect));

// Training descriptors: (0,0), (3,4), (6,8) in 2-d.
const training = run(exactIndex(matrix(3, 2, [0, 0, 3, 4, 6, 8]), { name: "train" }));

Deno.test("knnScore() is the distance to the nearest training descriptor by default", () => {
  // (0,0) is a training point -> 0; (3,0): nearest (0,0) at 3 (vs (3,4) at 4);
  // (6,16): nearest (6,8) at 8.
  const scores = run(knnScore(training, matrix(3, 2, [0, 0, 3, 0, 6, 16])));
  assert.deepEqual([...scores], [0, 3, 8]);
});

Deno.test("knnScore() averages the k nearest distances", () => {
  // (3,0): distances 3 to (0,0), 4 to (3,4), √(9+64) to (6,8). k=2 -> (3 + 4) / 2.
  // (0,0): 0, 5 -> 2.5.   k=3 for (0,0): (0 + 5 + 10) / 3 = 5.
  assert.deepEqual([...run(knnScore(training, matrix(2, 2, [3, 0, 0, 0]), 2))], [3.5, 2.5]);
  assert.deepEqual([...run(knnScore(training, matrix(1, 2, [0, 0]), 3))], [5]);
});

Deno.test("knnScore() ranks far-away descriptors higher (more OOD)", () => {
  const scores = run(knnScore(training, matrix(2, 2, [3, 4.5, 30, 40])));
  assert.ok(scores[1]! > scores[0]!);
});

Deno.test("knnScore() passes on typed search errors and keeps huge distances in float64", () => {
  assert.equal(failure(knnScore(training, matrix(1, 2, [0, 0]), 4))._tag, "IndexTooSmall");
  assert.equal(failure(knnScore(training, matrix(1, 3, [0, 0, 0])))._tag, "DimensionMismatch");
  assert.equal(failure(knnScore(training, matrix(1, 2, [NaN, 0])))._tag, "NonFiniteVector");
  // Finite but huge: the distance is past float32's range, and kept in float64.
  const [, huge] = Effect.runSync(knnScore(training, matrix(2, 2, [0, 0, 3e38, 3e38])));
  assert.ok(Number.isFinite(huge!) && huge! > 4e38, String(huge));
});
