import assert from "node:assert/strict";
import { join } from "node:path";
import { Cause, Effect, Exit } from "effect";
import {
  type ExactIndex,
  exactIndex,
  type HnswIndex,
  hnswIndex,
  INDEX_KINDS,
  IndexSpec,
  loadIndex,
  type NearestNeighbourIndex,
  type Neighbours,
  recallAtK,
  saveIndex,
} from "../lib/knn/mod.ts";
import { decodeStrict } from "../lib/decode.ts";
import { type Matrix, takeRows } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";
import { clusteredMatrix } from "./clustered.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>): E => Effect.runSync(Effect.flip(effect));

function uniformMatrix(rows: number, cols: number, seed: number, offset = 0): Matrix {
  const random = mulberry32(seed);
  return { rows, cols, data: Float32Array.from({ length: rows * cols }, () => offset + random()) };
}

/** Naive double loop: every distance in float64, sorted by (distance, index). */
function naiveSearch(points: Matrix, queries: Matrix, k: number): Neighbours {
  const distances = new Float64Array(queries.rows * k);
  const indices = new Int32Array(queries.rows * k);
  for (let q = 0; q < queries.rows; q++) {
    const all: Array<[number, number]> = [];
    for (let p = 0; p < points.rows; p++) {
      let sum = 0;
      for (let j = 0; j < points.cols; j++) {
        const diff = queries.data[q * queries.cols + j]! - points.data[p * points.cols + j]!;
        sum += diff * diff;
      }
      all.push([Math.sqrt(sum), p]);
    }
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let r = 0; r < k; r++) {
      distances[q * k + r] = all[r]![0];
      indices[q * k + r] = all[r]![1];
    }
  }
  return { rows: queries.rows, k, distances, indices };
}

function assertSameNeighbours(actual: Neighbours, expected: Neighbours, what: string): void {
  assert.equal(actual.rows, expected.rows);
  assert.equal(actual.k, expected.k);
  for (let i = 0; i < expected.distances.length; i++) {
    const a = actual.distances[i]!;
    const e = expected.distances[i]!;
    assert.ok(Math.abs(a - e) <= 1e-4 * Math.max(e, 1e-6), `${what}: distance ${i}: ${a} vs ${e}`);
    if (actual.indices[i] !== expected.indices[i]) {
      // Only an exact tie may swap neighbours.
      assert.equal(a, e, `${what}: index ${i}: ${actual.indices[i]} vs ${expected.indices[i]}`);
    }
  }
}

Deno.test("exactIndex() matches a naive double loop (partial blocks, odd dims, offsets)", () => {
  const cases = [
    { n: 37, q: 5, d: 3, k: 4, offset: 0 },
    { n: 1100, q: 300, d: 24, k: 5, offset: 0 }, // several point and query blocks, with tails
    { n: 700, q: 130, d: 13, k: 1, offset: 1000 }, // large offset: centring keeps float32 exact
    { n: 9, q: 2, d: 1, k: 9, offset: 0 }, // k = size
  ];
  for (const { n, q, d, k, offset } of cases) {
    const points = uniformMatrix(n, d, n, offset);
    const queries = uniformMatrix(q, d, n + 1, offset);
    const index = run(exactIndex(points));
    assert.equal(index.kind, "exact");
    assert.equal(index.size, n);
    assert.equal(index.dim, d);
    assertSameNeighbours(run(index.search(queries, k)), naiveSearch(points, queries, k), `n=${n}`);
    index.dispose();
  }
});

Deno.test("exactIndex() breaks exact ties by the lower point index", () => {
  // Rows 0..3 of a 2-d grid, repeated: every query has duplicate nearest points.
  const base = [0, 0, 1, 0, 0, 1, 1, 1];
  const points = { rows: 12, cols: 2, data: Float32Array.from([...base, ...base, ...base]) };
  const queries = { rows: 2, cols: 2, data: Float32Array.of(0.1, 0, 0.5, 0.5) };
  const result = run(run(exactIndex(points)).search(queries, 3));
  assert.deepEqual([...result.indices.subarray(0, 3)], [0, 4, 8]);
  assert.deepEqual([...result.indices.subarray(3, 6)], [0, 1, 2]); // all 12 tie at √0.5
  assert.ok(Math.abs(result.distances[0]! - 0.1) < 1e-7);
  assert.deepEqual(result, naiveSearch(points, queries, 3));
});

Deno.test("exactIndex() finds each point as its own nearest neighbour at distance 0", () => {
  const points = clusteredMatrix(300, 16, 4, 5);
  const result = run(run(exactIndex(points)).search(points, 1));
  assert.deepEqual([...result.indices], Array.from({ length: 300 }, (_, i) => i));
  assert.ok(result.distances.every((d) => d === 0));
});

Deno.test("search() fails with typed errors naming the index", () => {
  const index = run(exactIndex(uniformMatrix(4, 3, 1), { name: "train-gradients" }));
  const tooMany = failure(index.search(uniformMatrix(1, 3, 2), 5));
  assert.equal(tooMany._tag, "IndexTooSmall");
  assert.match(tooMany.message, /train-gradients.*5 neighbours.*4 points/);

  const empty = run(exactIndex({ rows: 0, cols: 3, data: new Float32Array(0) }));
  assert.equal(failure(empty.search(uniformMatrix(1, 3, 2), 1))._tag, "IndexTooSmall");

  const wrongDim = failure(index.search(uniformMatrix(2, 5, 2), 1));
  assert.equal(wrongDim._tag, "DimensionMismatch");
  assert.match(wrongDim.message, /train-gradients.*5 columns.*3/);

  assert.equal(failure(index.search(uniformMatrix(1, 3, 2), 0))._tag, "InvalidNeighbourCount");

  const nanQuery = { rows: 2, cols: 3, data: Float32Array.of(0, 0, 0, 0, NaN, 0) };
  const bad = failure(index.search(nanQuery, 1));
  assert.ok(bad._tag === "NonFiniteVector" && bad.what === "query" && bad.row === 1);

  const badPoints = { rows: 2, cols: 2, data: Float32Array.of(0, 0, Infinity, 0) };
  const badBuild = failure(exactIndex(badPoints));
  assert.ok(badBuild._tag === "NonFiniteVector" && badBuild.what === "point" && badBuild.row === 1);

  index.dispose();
  const afterDispose = Effect.runSyncExit(index.search(uniformMatrix(1, 3, 2), 1));
  assert.ok(Exit.isFailure(afterDispose) && Cause.hasDies(afterDispose.cause));
});

Deno.test("recallAtK() counts exact neighbours found by the approximate search", () => {
  const exact = {
    rows: 2,
    k: 2,
    distances: new Float64Array(4),
    indices: Int32Array.of(1, 2, 3, 4),
  };
  const approx = { ...exact, indices: Int32Array.of(2, 1, 3, 9) };
  assert.equal(recallAtK(approx, exact), 3 / 4);
  assert.equal(recallAtK(approx, exact, 1), 1 / 2);
  assert.throws(() => recallAtK({ ...approx, rows: 1 }, exact), RangeError);
});

Deno.test("hnswIndex() reaches recall@1 ≥ 0.99 against exact search on clustered data", async () => {
  const points = clusteredMatrix(5000, 32, 10, 1);
  const queries = clusteredMatrix(500, 32, 10, 2);
  const hnsw = await Effect.runPromise(hnswIndex(points, { seed: 7 }));
  assert.equal(hnsw.kind, "hnsw");
  assert.deepEqual(hnsw.params, { M: 16, efConstruction: 200, efSearch: 200, seed: 7 });
  const exact = run(run(exactIndex(points)).search(queries, 5));
  const approx = run(hnsw.search(queries, 5));
  const recall = recallAtK(approx, exact, 1);
  assert.ok(recall >= 0.99, `recall@1 = ${recall}`);
  // Where HNSW finds the true nearest point it reports the same distance as the exact index.
  for (let q = 0; q < queries.rows; q++) {
    if (approx.indices[q * 5] === exact.indices[q * 5]) {
      assert.equal(approx.distances[q * 5], exact.distances[q * 5]);
    }
  }
  assert.equal(failure(hnsw.search(queries, 5001))._tag, "IndexTooSmall");
  assert.equal(failure(hnsw.search(uniformMatrix(1, 31, 1), 1))._tag, "DimensionMismatch");
});

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertRoundTrip(index: ExactIndex | HnswIndex, dir: string, queries: Matrix) {
  const metadata = await Effect.runPromise(saveIndex(index, dir));
  assert.equal(metadata.kind, index.kind);
  assert.equal(metadata.size, index.size);
  assert.equal(metadata.dim, index.dim);
  const loaded = await Effect.runPromise(loadIndex(dir));
  assert.equal(loaded.kind, index.kind);
  assert.equal(loaded.name, dir);
  assert.deepEqual(loaded.settings, index.settings);
  // The loaded index is its kind's own (so it can be saved again), over the same points.
  const kind = INDEX_KINDS.find((k) => k.owns(loaded))!;
  assert.equal(kind.kind, index.kind);
  assert.deepEqual((loaded as ExactIndex | HnswIndex).points.data, index.points.data);
  assert.deepEqual(run(loaded.search(queries, 3)), run(index.search(queries, 3)));
  return loaded;
}

Deno.test("saveIndex()/loadIndex() round-trip both kinds with identical search results", async () => {
  const points = clusteredMatrix(1000, 16, 5, 3);
  const queries = clusteredMatrix(200, 16, 5, 4);
  await withTempDir(async (dir) => {
    await assertRoundTrip(run(exactIndex(points)), join(dir, "exact"), queries);
    const hnsw = await Effect.runPromise(hnswIndex(points, { seed: 3, efSearch: 20, M: 8 }));
    await assertRoundTrip(hnsw, join(dir, "hnsw"), queries);
    const files = [...Deno.readDirSync(join(dir, "hnsw"))].map((e) => e.name).sort();
    // No temp files left; the marker makes the folder grood's, which a later save may replace.
    assert.deepEqual(files, [".grood-output", "graph.hnsw", "index.json", "points.npy"]);
  });
});

Deno.test("loadIndex() rejects tampered or missing files with typed errors", async () => {
  const points = uniformMatrix(50, 4, 1);
  await withTempDir(async (dir) => {
    const load = (path: string) => Effect.runPromise(Effect.flip(loadIndex(path)));
    const exactDir = join(dir, "exact");
    await Effect.runPromise(saveIndex(run(exactIndex(points)), exactDir));

    // One flipped byte in the points -> checksum mismatch.
    const pointsPath = join(exactDir, "points.npy");
    const bytes = await Deno.readFile(pointsPath);
    bytes[bytes.length - 1]! ^= 1;
    await Deno.writeFile(pointsPath, bytes);
    const flipped = await load(exactDir);
    assert.equal(flipped._tag, "CorruptIndex");
    assert.ok(flipped.message.includes(exactDir), flipped.message);
    assert.match(flipped.message, /points\.npy does not match its sha256/);
    bytes[bytes.length - 1]! ^= 1;
    await Deno.writeFile(pointsPath, bytes);

    // Metadata that disagrees with the points.
    const metadataPath = join(exactDir, "index.json");
    const metadata = JSON.parse(await Deno.readTextFile(metadataPath));
    await Deno.writeTextFile(metadataPath, JSON.stringify({ ...metadata, dim: 5 }));
    assert.match((await load(exactDir)).message, /\(50, 4\).*\(50, 5\)/);
    await Deno.writeTextFile(metadataPath, "{ not json");
    assert.equal((await load(exactDir))._tag, "CorruptIndex");

    // A damaged HNSW graph.
    const hnswDir = join(dir, "hnsw");
    await Effect.runPromise(
      saveIndex(await Effect.runPromise(hnswIndex(points, { seed: 1 })), hnswDir),
    );
    await Deno.writeFile(join(hnswDir, "graph.hnsw"), new Uint8Array(10));
    assert.match((await load(hnswDir)).message, /graph\.hnsw does not match its sha256/);

    const missing = await load(join(dir, "nowhere"));
    assert.equal(missing._tag, "IndexIoError");
    assert.match(missing.message, /nowhere/);
  });
});

Deno.test("loadIndex() decodes index.json strictly: a typed error names the file and the key", async () => {
  const points = uniformMatrix(40, 3, 2);
  await withTempDir(async (dir) => {
    await Effect.runPromise(saveIndex(run(exactIndex(points)), dir));
    const metadataPath = join(dir, "index.json");
    const saved = JSON.parse(await Deno.readTextFile(metadataPath));
    const loadWith = async (json: unknown) => {
      await Deno.writeTextFile(metadataPath, JSON.stringify(json));
      const error = await Effect.runPromise(Effect.flip(loadIndex(dir)));
      assert.equal(error._tag, "CorruptIndex");
      assert.ok(error.message.includes(metadataPath), error.message);
      return error.message;
    };
    assert.match(await loadWith({ ...saved, extra: 1 }), /unknown key extra/);
    assert.match(
      await loadWith({ ...saved, contents: { ...saved.contents, graph: null } }),
      /unknown key graph.*contents/,
    );
    assert.match(
      await loadWith({
        ...saved,
        contents: { points: { ...saved.contents.points, file: "../x" } },
      }),
      /contents\.points\.file/,
    );
    assert.match(await loadWith({ ...saved, kind: "usearch" }), /unknown kind "usearch"/);
    assert.match(await loadWith({ ...saved, version: 1 }), /version/);
    const { size: _, ...noSize } = saved;
    assert.match(await loadWith(noSize), /missing required key.*size/);
    // Restored, it loads again.
    await Deno.writeTextFile(metadataPath, JSON.stringify(saved));
    (await Effect.runPromise(loadIndex(dir))).dispose();
  });
});

Deno.test("saveIndex() refuses an index no registered kind made (a user's own)", async () => {
  const inner = run(exactIndex(uniformMatrix(10, 2, 3)));
  const mine: NearestNeighbourIndex = { ...inner, kind: "exact", name: "mine" };
  await withTempDir(async (dir) => {
    const error = await Effect.runPromise(Effect.flip(saveIndex(mine, join(dir, "mine"))));
    assert.equal(error._tag, "IndexIoError");
    assert.match(String(error.cause), /mine \(kind exact\) was not made by a registered kind/);
    assert.deepEqual([...Deno.readDirSync(dir)], []); // nothing written
  });
  inner.dispose();
});

Deno.test("search results do not depend on query batching", () => {
  const points = uniformMatrix(600, 8, 11);
  const queries = uniformMatrix(260, 8, 12);
  const index = run(exactIndex(points));
  const all = run(index.search(queries, 2));
  const firstHalf = run(
    index.search(takeRows(queries, Array.from({ length: 130 }, (_, i) => i)), 2),
  );
  assert.deepEqual(firstHalf.indices, all.indices.subarray(0, 260));
  assert.deepEqual(firstHalf.distances, all.distances.subarray(0, 260));
});

Deno.test("IndexSpec is a closed tagged union: a misspelt kind or option neither compiles nor decodes", () => {
  // @ts-expect-error: no such kind
  const misspelt: IndexSpec = { kind: "hnws" };
  // @ts-expect-error: IVF has no `m`
  const foreign: IndexSpec = { kind: "ivf", m: 8 };
  const decode = (input: unknown) => Effect.runSyncExit(decodeStrict(IndexSpec, "spec")(input));
  assert.ok(Exit.isFailure(decode(misspelt)));
  assert.ok(Exit.isFailure(decode(foreign)));
  assert.ok(Exit.isFailure(decode({ kind: "hnsw", m: 1 }))); // hnswlib needs M ≥ 2
  assert.ok(Exit.isFailure(decode({ kind: "ivf", recallTarget: 1.5 })));
  const ok = decode({ kind: "hnsw", m: 8, efSearch: 30 });
  assert.ok(Exit.isSuccess(ok));
  assert.deepEqual(ok.value, { kind: "hnsw", m: 8, efSearch: 30 });
  assert.deepEqual(INDEX_KINDS.map((k) => k.kind), ["exact", "ivf", "hnsw"]);
});
