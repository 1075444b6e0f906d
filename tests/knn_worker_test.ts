import assert from "node:assert/strict";
import { Effect } from "effect";
import { exactIndex, hnswIndex, loadIndex, saveIndex, workerIndex } from "../lib/knn/mod.ts";
import { matrix } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";
import { runPromise, runPromiseExit } from "./with_compute.ts";

const run = runPromise;

/** Points whose norms span decades (as GROOD's), with duplicates: pruning and ties at work. */
function points(n: number, d: number, seed: number) {
  const random = mulberry32(seed);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const scale = 10 ** (-3 + 3 * random());
    for (let j = 0; j < d; j++) data[i * d + j] = scale * (random() - 0.5);
  }
  data.copyWithin(5 * d, 0, d); // row 5 = row 0
  return matrix(n, d, data);
}

Deno.test("workerIndex finds the exact index's neighbours and distances, bit for bit", async () => {
  const base = points(3000, 24, 1);
  const queries = points(300, 24, 2);
  const exact = await run(exactIndex(base));
  const inWorker = await run(workerIndex(base));
  try {
    for (const k of [1, 7]) {
      const a = await run(exact.search(queries, k));
      const b = await run(inWorker.search(queries, k));
      assert.deepEqual(b.indices, a.indices, `k = ${k}: indices`);
      assert.deepEqual(b.distances, a.distances, `k = ${k}: distances`);
    }
    // Several searches in flight at once come back to the right callers.
    const parts = [0, 100, 200].map((s) =>
      matrix(100, 24, queries.data.slice(s * 24, (s + 100) * 24))
    );
    const together = await Promise.all(parts.map((q) => run(inWorker.search(q, 1))));
    const whole = await run(exact.search(queries, 1));
    assert.deepEqual(
      Int32Array.from(together.flatMap((t) => Array.from(t.indices))),
      whole.indices,
    );
  } finally {
    inWorker.dispose();
    exact.dispose();
  }
});

Deno.test("workerIndex with HNSW: the same graph as hnswIndex (same neighbours and distances), saved and reloaded", async () => {
  const base = points(2000, 16, 4);
  const queries = points(200, 16, 5);
  const params = { M: 16, efConstruction: 100, efSearch: 100, seed: 3 };
  const onThread = await run(hnswIndex(base, params));
  const inWorker = await run(workerIndex(base, { hnsw: params }));
  const dir = await Deno.makeTempDir({ prefix: "grood-worker-hnsw-" });
  try {
    assert.equal(inWorker.kind, "hnsw");
    assert.deepEqual(inWorker.params, params);
    for (const k of [1, 5]) {
      const a = await run(onThread.search(queries, k));
      const b = await run(inWorker.search(queries, k));
      assert.deepEqual(b.indices, a.indices, `k = ${k}: indices`);
      assert.deepEqual(b.distances, a.distances, `k = ${k}: distances`);
    }
    // Approximate, but a real graph: most queries find the exact neighbour (173 of 200 when
    // written; uniform 16-D directions are hard for HNSW, a broken graph finds a handful).
    const exact = await run(exactIndex(base));
    const truth = await run(exact.search(queries, 1));
    exact.dispose();
    const found = await run(inWorker.search(queries, 1));
    const hits = found.indices.filter((v, i) => v === truth.indices[i]).length;
    assert.ok(hits >= 160, `recall@1 ${hits}/200`);
    // The graph the worker writes loads as an ordinary HNSW index with the same results.
    await run(saveIndex(inWorker, dir));
    const loaded = await run(loadIndex(dir));
    assert.deepEqual(
      (await run(loaded.search(queries, 5))).indices,
      (await run(inWorker.search(queries, 5))).indices,
    );
    loaded.dispose();
  } finally {
    inWorker.dispose();
    onThread.dispose();
    await Deno.remove(dir, { recursive: true });
  }
  const error = await run(Effect.flip(workerIndex(base, { hnsw: { M: 1 } })));
  assert.equal(error._tag, "InvalidParameter");
});

Deno.test("workerIndex: typed errors for bad points and searches, a defect after dispose", async () => {
  const bad = matrix(2, 2, [0, NaN, 1, 1]);
  const error = await run(Effect.flip(workerIndex(bad)));
  assert.equal(error._tag, "NonFiniteVector");
  const index = await run(workerIndex(points(10, 3, 3)));
  assert.equal(
    (await run(Effect.flip(index.search(matrix(1, 2, [0, 0]), 1))))._tag,
    "DimensionMismatch",
  );
  assert.equal(
    (await run(Effect.flip(index.search(matrix(1, 3, [0, 0, 0]), 11))))._tag,
    "IndexTooSmall",
  );
  index.dispose();
  const exit = await runPromiseExit(index.search(matrix(1, 3, [0, 0, 0]), 1));
  assert.equal(exit._tag, "Failure");
});
