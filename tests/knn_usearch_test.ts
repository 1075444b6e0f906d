import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import {
  buildIndex,
  exactIndex,
  loadIndex,
  recallAtK,
  saveIndex,
  usearchBuilder,
  usearchIndex,
} from "../lib/knn/mod.ts";
import { takeRows } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";
import { clusteredMatrix } from "./clustered.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>): Promise<E> =>
  Effect.runPromise(Effect.flip(effect));

const points = clusteredMatrix(5000, 32, 10, 1);
const queries = clusteredMatrix(500, 32, 10, 2);

Deno.test("usearchIndex() reaches recall@1 ≥ 0.99 against exact search, float32 distances agree", async () => {
  const index = await run(usearchIndex(points));
  assert.equal(index.kind, "usearch");
  assert.equal(index.size, 5000);
  assert.equal(index.points, undefined); // usearch holds the only copy
  assert.deepEqual(index.params, { M: 16, efConstruction: 64, efSearch: 128, seed: 0 });
  const exact = await run(exactIndex(points));
  const truth = await run(exact.search(queries, 5));
  const found = await run(index.search(queries, 5));
  const recall1 = recallAtK(found, truth, 1);
  assert.ok(recall1 >= 0.99, `recall@1 ${recall1}`);
  assert.ok(recallAtK(found, truth, 5) >= 0.98);
  let same = 0;
  for (let q = 0; q < queries.rows * 5; q++) {
    if (found.indices[q] === truth.indices[q]) {
      same++;
      const relative = Math.abs(found.distances[q]! - truth.distances[q]!) / truth.distances[q]!;
      assert.ok(relative < 1e-5, `query slot ${q}: ${found.distances[q]} vs ${truth.distances[q]}`);
    }
  }
  assert.ok(same > 0.9 * queries.rows * 5);
  // One query alone (usearch answers it in another shape) gives the same row.
  const one = await run(index.search(takeRows(queries, [7]), 5));
  assert.deepEqual(one.indices, found.indices.subarray(35, 40));
  exact.dispose();
  index.dispose();
});

Deno.test("a single-threaded usearch build is deterministic, chunked or whole", async () => {
  const whole = await run(usearchIndex(points, { threads: 1 }));
  const again = await run(usearchIndex(points, { threads: 1 }));
  const builder = await run(usearchBuilder(32, { threads: 1 }));
  for (let first = 0; first < points.rows; first += 1234) {
    const rows = Array.from({ length: Math.min(1234, points.rows - first) }, (_, i) => first + i);
    await run(builder.add(takeRows(points, rows)));
  }
  const chunked = builder.finish();
  const expected = await run(whole.search(queries, 3));
  assert.deepEqual(await run(again.search(queries, 3)), expected);
  assert.deepEqual(await run(chunked.search(queries, 3)), expected);
  for (const index of [whole, again, chunked]) index.dispose();
});

Deno.test("usearch indexes save and load with identical searches; tampering is caught", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const index = await run(buildIndex("usearch", points, { name: "test", seed: 0 }));
    const metadata = await run(saveIndex(index, dir));
    assert.equal(metadata.kind, "usearch");
    assert.equal(metadata.points, null);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "index.json",
      "index.usearch",
    ]);
    const loaded = await run(loadIndex(dir));
    assert.equal(loaded.kind, "usearch");
    assert.deepEqual(loaded.params, index.params);
    assert.deepEqual(await run(loaded.search(queries, 3)), await run(index.search(queries, 3)));
    loaded.dispose();
    index.dispose();
    const file = join(dir, "index.usearch");
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    await Deno.writeFile(file, bytes);
    const error = await failure(loadIndex(dir));
    assert.equal(error._tag, "CorruptIndex");
    assert.match(error.message, /index\.usearch does not match its sha256/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("usearch: typed errors for bad points, parameters and searches; a defect after dispose", async () => {
  const bad = { ...points, data: points.data.slice() };
  bad.data[40 * 32 + 3] = NaN;
  const nonFinite = await failure(usearchIndex(bad, { name: "bad points" }));
  assert.equal(nonFinite._tag, "NonFiniteVector");
  assert.match(nonFinite.message, /bad points: point 40/);
  const parameter = await failure(usearchIndex(points, { connectivity: 1 }));
  assert.equal(parameter._tag, "InvalidParameter");
  assert.match(parameter.message, /usearch connectivity/);
  const builder = await run(usearchBuilder(32));
  const wrongWidth = await failure(builder.add(clusteredMatrix(3, 31, 2, 1)));
  assert.equal(wrongWidth._tag, "InvalidParameter");
  builder.dispose();
  const small = await run(usearchIndex(takeRows(points, [0, 1, 2])));
  assert.equal((await failure(small.search(queries, 4)))._tag, "IndexTooSmall");
  assert.equal(
    (await failure(small.search(clusteredMatrix(1, 31, 2, 1), 1)))._tag,
    "DimensionMismatch",
  );
  small.dispose();
  const exit = await Effect.runPromiseExit(small.search(queries, 1));
  assert.equal(exit._tag, "Failure");
});

Deno.test("usearch dispose() frees the native memory at once", async () => {
  // 30,000 × 512 float32 = 61 MB of vectors, plus a sparse graph (quick to build).
  const big = { rows: 30_000, cols: 512, data: new Float32Array(30_000 * 512) };
  const random = mulberry32(3);
  for (let i = 0; i < big.data.length; i++) big.data[i] = random();
  const rss = () => Deno.memoryUsage().rss;
  const before = rss();
  const index = await run(usearchIndex(big, { connectivity: 4, expansionAdd: 8 }));
  const built = rss();
  index.dispose();
  const after = rss();
  assert.ok(built - before > 60e6, `the build added ${(built - before) / 1e6} MB`);
  assert.ok(
    built - after > 0.9 * (built - before),
    `dispose gave back ${(built - after) / 1e6} MB`,
  );
});
