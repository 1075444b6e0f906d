import assert from "node:assert/strict";
import { Effect } from "effect";
import {
  buildIndex,
  CALIBRATION_DEFAULTS,
  EF_LADDER,
  exactIndex,
  hnswIndex,
  recallAtK,
} from "../lib/knn/mod.ts";
import { heldOutRows } from "../lib/knn/calibrate.ts";
import { type Matrix, takeRows } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";

/** Uniform points in [0, 1)^cols: hard enough for a small graph that recall grows with efSearch. */
function uniformMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = mulberry32(seed);
  return { rows, cols, data: Float32Array.from({ length: rows * cols }, () => random()) };
}

const points = uniformMatrix(4000, 16, 1);
// A sparse graph (M 8, efConstruction 40), so small efSearch values miss neighbours.
const graph = { M: 8, efConstruction: 40, seed: 5 };
const calibrate = { recallTarget: 0.99, sample: 300 };

/**
 * recall@1 at `efSearch` of the graph the calibration measured on, rebuilt independently:
 * hnswlib's graph depends on the insertion order and the seed, not on the labels, so a plain
 * build over the points not held out (in row order) is that graph.
 */
const heldOutRecall = (efSearch: number): Promise<number> =>
  Effect.runPromise(Effect.gen(function* () {
    const held = heldOutRows(points.rows, calibrate.sample, graph.seed);
    const isHeld = new Set(held);
    const rest = Array.from({ length: points.rows }, (_, i) => i).filter((i) => !isHeld.has(i));
    const restPoints = takeRows(points, rest);
    const queries = takeRows(points, held);
    const hnsw = yield* hnswIndex(restPoints, { ...graph, efSearch });
    const exact = yield* exactIndex(restPoints);
    const recall = recallAtK(yield* hnsw.search(queries, 1), yield* exact.search(queries, 1));
    hnsw.dispose();
    exact.dispose();
    return recall;
  }));

Deno.test("calibrated efSearch: the smallest ladder value reaching the target on held-out points", async () => {
  const index = await Effect.runPromise(hnswIndex(points, { ...graph, calibrate }));
  const c = index.calibration!;
  assert.equal(c.sample, 300);
  assert.equal(c.recallTarget, 0.99);
  assert.equal(index.params.efSearch, c.efSearch);
  assert.ok(c.met);
  assert.ok(c.recall1 >= 0.99, `recall@1 ${c.recall1}`);
  // Minimal on the ladder: every value before it was tried and fell short.
  const at = EF_LADDER.indexOf(c.efSearch);
  assert.ok(at > 0, `this graph needs more than the first ladder value (chose ${c.efSearch})`);
  assert.deepEqual(c.tried.map((t) => t.efSearch), EF_LADDER.slice(0, at + 1));
  for (const t of c.tried.slice(0, -1)) assert.ok(t.recall1 < 0.99, `${t.efSearch}: ${t.recall1}`);
  // The recorded recalls are what an independent rebuild measures.
  assert.equal(await heldOutRecall(c.efSearch), c.recall1);
  assert.equal(await heldOutRecall(EF_LADDER[at - 1]!), c.tried[at - 1]!.recall1);
  // Every point is indexed (the held-out ones were added after): each finds itself.
  const found = Effect.runSync(index.search(points, 1));
  let self = 0;
  for (let i = 0; i < points.rows; i++) if (found.indices[i] === i) self++;
  assert.ok(self >= 0.99 * points.rows, `${self} of ${points.rows} find themselves`);
  index.dispose();
});

Deno.test("calibrated efSearch is deterministic for a seed", async () => {
  const queries = uniformMatrix(200, 16, 9);
  const a = await Effect.runPromise(hnswIndex(points, { ...graph, calibrate }));
  const b = await Effect.runPromise(hnswIndex(points, { ...graph, calibrate }));
  assert.deepEqual(b.calibration, a.calibration);
  assert.deepEqual(b.params, a.params);
  assert.deepEqual(b.settings, a.settings);
  const expected = Effect.runSync(a.search(queries, 3));
  assert.deepEqual(Effect.runSync(b.search(queries, 3)), expected);
  for (const index of [a, b]) index.dispose();
});

Deno.test("a user's efSearch wins over calibration; the registry calibrates by default", async () => {
  const given = await Effect.runPromise(hnswIndex(points, { ...graph, efSearch: 40, calibrate }));
  assert.equal(given.params.efSearch, 40);
  assert.equal(given.calibration, undefined);
  given.dispose();
  const options = { name: "test", seed: graph.seed };
  // Through the registry, the index reports its calibration in its settings.
  const byKind = await Effect.runPromise(
    buildIndex({ kind: "hnsw", m: 8, efConstruction: 40 }, points, options),
  );
  assert.equal(byKind.kind, "hnsw");
  assert.equal(byKind.settings.M, 8);
  assert.equal(byKind.settings.efSearchCalibrated, true);
  assert.equal(byKind.settings.efSearchRecallTarget, CALIBRATION_DEFAULTS.recallTarget);
  assert.equal(byKind.settings.efSearchSample, 400); // a tenth of 4,000 points
  assert.ok(EF_LADDER.includes(byKind.settings.efSearch as number));
  byKind.dispose();
  const fixed = await Effect.runPromise(
    buildIndex({ kind: "hnsw", m: 8, efConstruction: 40, efSearch: 32 }, points, options),
  );
  assert.deepEqual(fixed.settings, { M: 8, efConstruction: 40, efSearch: 32 });
  fixed.dispose();
});

Deno.test("calibration options are checked with typed errors", async () => {
  for (
    const [bad, name] of [
      [{ recallTarget: 1.5 }, "HNSW recallTarget"],
      [{ sample: 0 }, "HNSW calibration sample"],
      [{ ladder: [32, 16] }, "HNSW efSearch ladder"],
    ] as const
  ) {
    const error = await Effect.runPromise(
      Effect.flip(hnswIndex(points, { ...graph, calibrate: bad })),
    );
    assert.equal(error._tag, "InvalidParameter");
    assert.equal((error as { name: string }).name, name);
  }
});
