import assert from "node:assert/strict";
import { Effect } from "effect";
import {
  buildIndex,
  exactIndex,
  ivfBuilder,
  type IvfIndex,
  ivfIndex,
  loadIndex,
  type Neighbours,
  recallAtK,
  saveIndex,
} from "../lib/knn/mod.ts";
import { mergeCandidates } from "../lib/knn/ivf_scan.ts";
import { encodeNpy } from "../lib/io/npy.ts";
import { sha256Hex } from "../lib/io/files.ts";
import { matrix, takeRows } from "../lib/matrix.ts";
import { clusteredMatrix } from "./clustered.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>): Promise<E> =>
  Effect.runPromise(Effect.flip(effect));

const points = clusteredMatrix(6000, 24, 12, 1);
const queries = clusteredMatrix(400, 24, 12, 2);

/** Same neighbours as `truth`, and distances within float32 rounding of its float64 ones. */
function assertSameAsExact(found: Neighbours, truth: Neighbours): void {
  assert.deepEqual(found.indices, truth.indices);
  for (let i = 0; i < truth.distances.length; i++) {
    const relative = Math.abs(found.distances[i]! - truth.distances[i]!) /
      Math.max(truth.distances[i]!, 1e-30);
    assert.ok(relative < 1e-5, `slot ${i}: ${found.distances[i]} vs ${truth.distances[i]}`);
  }
}

Deno.test("ivfIndex() probing every list returns the exact index's neighbours", async () => {
  const exact = await run(exactIndex(points));
  const truth = await run(exact.search(queries, 7));
  const index = await run(ivfIndex(points, { lists: 40, nprobe: 40 }));
  assert.equal(index.kind, "ivf");
  assert.deepEqual(index.ivf, { lists: 40, nprobe: 40, iterations: 10, seed: 0 });
  assert.equal(index.calibration, undefined); // nprobe given: nothing measured
  assertSameAsExact(await run(index.search(queries, 7)), truth);
  // Queries that are indexed points find themselves at distance 0.
  const self = await run(index.search(takeRows(points, [0, 17, 5999]), 1));
  assert.deepEqual([...self.indices], [0, 17, 5999]);
  assert.deepEqual([...self.distances], [0, 0, 0]);
  exact.dispose();
  index.dispose();
});

Deno.test("ivfIndex() calibrates nprobe to its recall target, and the target holds on new queries", async () => {
  const exact = await run(exactIndex(points));
  const truth = await run(exact.search(queries, 1));
  const index = await run(ivfIndex(points, { lists: 80, recallTarget: 0.99 }));
  const c = index.calibration!;
  assert.ok(c.met && c.recall1 >= 0.99, JSON.stringify(c));
  assert.equal(c.sample, 600); // a tenth of the points, at most 1,000
  assert.equal(index.ivf.nprobe, c.efSearch);
  assert.ok(index.ivf.nprobe < 80, `nprobe ${index.ivf.nprobe}: no saving over a full scan`);
  // Each value tried below the chosen one missed the target.
  for (const step of c.tried.slice(0, -1)) assert.ok(step.recall1 < 0.99);
  const recall1 = recallAtK(await run(index.search(queries, 1)), truth, 1);
  assert.ok(recall1 >= 0.98, `recall@1 on unseen queries ${recall1}`);
  // A tight budget (one list) finds fewer true neighbours: the breadth matters.
  const narrow = await run(ivfIndex(points, { lists: 80, nprobe: 1 }));
  assert.ok(recallAtK(await run(narrow.search(queries, 1)), truth, 1) < recall1);
  for (const i of [exact, index, narrow]) i.dispose();
});

Deno.test("an IVF build is deterministic, chunked or whole; a seed changes the lists", async () => {
  const whole = await run(ivfIndex(points, { lists: 50, nprobe: 3 }));
  const builder = await run(ivfBuilder(points.rows, points.cols, { lists: 50, nprobe: 3 }));
  for (let first = 0; first < points.rows; first += 777) {
    const rows = Array.from({ length: Math.min(777, points.rows - first) }, (_, i) => first + i);
    await run(builder.add(takeRows(points, rows)));
  }
  const chunked = await run(builder.finish());
  assert.equal(chunked.points, undefined); // a streamed build keeps no JavaScript copy
  const expected = await run(whole.search(queries, 4));
  assert.deepEqual(await run(chunked.search(queries, 4)), expected);
  const again = await run(ivfIndex(points, { lists: 50, nprobe: 3 }));
  assert.deepEqual(await run(again.search(queries, 4)), expected);
  const reseeded = await run(ivfIndex(points, { lists: 50, nprobe: 3, seed: 5 }));
  assert.notDeepEqual(await run(reseeded.search(queries, 4)), expected);
  for (const i of [whole, chunked, again, reseeded]) i.dispose();
});

Deno.test("IVF searches on 2 and 3 threads return one thread's neighbours and distances, bit for bit", async () => {
  // Ties across lists too: duplicated points land in different ranges of lists.
  const doubled = matrix(points.rows * 2, points.cols, [...points.data, ...points.data]);
  const one = await run(ivfIndex(doubled, { lists: 60, recallTarget: 0.99 }));
  for (const threads of [2, 3]) {
    const many = await run(ivfIndex(doubled, { lists: 60, recallTarget: 0.99, threads }));
    // The calibration searches on the threads too, and chooses the same nprobe.
    assert.deepEqual(many.calibration, one.calibration);
    assert.deepEqual(many.ivf, one.ivf);
    for (const k of [1, 4, 10]) {
      assert.deepEqual(await run(many.search(queries, k)), await run(one.search(queries, k)));
    }
    // Probing every list on every thread: the exact neighbours, ties to the lower index.
    const everyList = await run(ivfIndex(doubled, { lists: 60, nprobe: 60, threads }));
    const exact = await run(exactIndex(doubled));
    assertSameAsExact(
      await run(everyList.search(queries, 6)),
      await run(exact.search(queries, 6)),
    );
    many.dispose();
    everyList.dispose();
    exact.dispose();
    // After dispose the workers are gone: a search is a defect, not a hang.
    const exit = await Effect.runPromiseExit(many.search(queries, 1));
    assert.equal(exit._tag, "Failure");
  }
  one.dispose();
  assert.equal((await failure(ivfIndex(points, { threads: 0 })))._tag, "InvalidParameter");
});

Deno.test("mergeCandidates keeps the m smallest by (value, point index) across scans", () => {
  // Slots 0..3 hold points 3, 0, 2, 1; two scans with a tie at 1.5 (points 2 and 0).
  const rowOf = Int32Array.from([3, 0, 2, 1]);
  const first = {
    values: Float64Array.from([1, 1.5, Infinity]),
    slots: Int32Array.from([0, 2, -1]),
  };
  const second = {
    values: Float64Array.from([1.5, 4, Infinity]),
    slots: Int32Array.from([1, 3, -1]),
  };
  const merged = mergeCandidates([first, second], 1, 3, rowOf);
  assert.deepEqual([...merged.slots], [0, 1, 2]); // 1.5 at point 0 (slot 1) before point 2
  assert.deepEqual([...merged.values], [1, 1.5, 1.5]);
  // Fewer candidates than m: the rest stay empty.
  const few = mergeCandidates(
    [first, { values: first.values, slots: Int32Array.of(-1, -1, -1) }],
    1,
    3,
    rowOf,
  );
  assert.deepEqual([...few.slots], [0, 2, -1]);
});

Deno.test("IVF: ties go to the lower point index; short lists fall back to every list", async () => {
  // Four copies of one point and a far one: k = 3 must give the three lowest copies.
  const tied = matrix(6, 2, [5, 5, 1, 1, 1, 1, 9, 9, 1, 1, 1, 1]);
  const index = await run(ivfIndex(tied, { lists: 3, nprobe: 1 }));
  const found = await run(index.search(matrix(1, 2, [1, 1]), 3));
  assert.deepEqual([...found.indices], [1, 2, 4]);
  // k larger than any list: the probed list is too short, every list is searched instead.
  const all = await run(index.search(matrix(1, 2, [9, 9]), 6));
  assert.deepEqual([...all.indices].sort(), [0, 1, 2, 3, 4, 5]);
  assert.equal(all.indices[0], 3);
  index.dispose();
});

Deno.test("IVF indexes save and load (their points and centroids) with identical searches", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const index = await run(buildIndex({ kind: "ivf" }, points, { name: "test", seed: 3 }));
    assert.equal(index.kind, "ivf");
    const metadata = await run(saveIndex(index, dir));
    assert.equal(metadata.kind, "ivf");
    const { points: file, centroids, ...settings } = metadata.contents as Record<string, unknown>;
    assert.deepEqual(Object.keys(file as object), ["file", "sha256"]);
    assert.deepEqual(Object.keys(centroids as object), ["file", "sha256"]);
    assert.deepEqual(settings, {
      lists: index.settings.lists,
      nprobe: index.settings.nprobe,
      iterations: 10,
      seed: 3,
    });
    // The output marker: the folder is grood's, so a later save may replace it whole.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      ".grood-output",
      "centroids.npy",
      "index.json",
      "points.npy",
    ]);
    const loaded = await run(loadIndex(dir));
    assert.equal(loaded.settings.lists, index.settings.lists);
    assert.equal(loaded.settings.nprobe, index.settings.nprobe);
    assert.deepEqual(await run(loaded.search(queries, 3)), await run(index.search(queries, 3)));
    // Settings that cannot be rebuilt are a corrupt index, not a crash.
    const json = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
    await Deno.writeTextFile(
      `${dir}/index.json`,
      JSON.stringify({ ...json, contents: { ...json.contents, lists: points.rows + 1 } }),
    );
    const error = await failure(loadIndex(dir));
    assert.equal(error._tag, "CorruptIndex");
    // Named by the value: the saved centroids are not that many lists.
    assert.match(error.message, new RegExp(`${points.rows + 1}`));
    loaded.dispose();
    index.dispose();
    // A streamed build keeps no points: saving it is refused, with the reason.
    const builder = await run(ivfBuilder(10, 2, { lists: 2 }));
    await run(builder.add(matrix(10, 2, Array.from({ length: 20 }, (_, i) => i))));
    const streamed = await run(builder.finish());
    // (Into a folder of its own: `dir` holds a saved index now, which nothing is saved inside.)
    const elsewhere = await Deno.makeTempDir();
    const refused = await failure(saveIndex(streamed, `${elsewhere}/streamed`));
    assert.equal(refused._tag, "IndexIoError");
    assert.match(String(refused.cause), /keeps no points/);
    assert.deepEqual([...Deno.readDirSync(elsewhere)], []); // nothing written
    await Deno.remove(elsewhere);
    streamed.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IVF rejects bad input with typed errors naming it", async () => {
  const nonFinite = matrix(3, 2, [0, 0, NaN, 1, 2, 2]);
  const bad = await failure(ivfIndex(nonFinite));
  assert.equal(bad._tag, "NonFiniteVector");
  assert.match(bad.message, /point 1 /);
  const tooMany = await failure(ivfIndex(points, { lists: points.rows + 1 }));
  assert.equal(tooMany._tag, "InvalidParameter");
  assert.match(tooMany.message, /ivf lists/);
  for (const options of [{ nprobe: 0 }, { recallTarget: 1.5 }, { iterations: -1 }]) {
    assert.equal((await failure(ivfIndex(points, options)))._tag, "InvalidParameter");
  }
  const builder = await run(ivfBuilder(10, 2));
  const wrongWidth = await failure(builder.add(matrix(1, 3, [1, 2, 3])));
  assert.equal(wrongWidth._tag, "InvalidParameter");
  const short = await failure(builder.finish());
  assert.match(short.message, /rows added/);
  const index = await run(ivfIndex(points, { nprobe: 2 }));
  assert.equal((await failure(index.search(matrix(1, 3, [1, 2, 3]), 1)))._tag, "DimensionMismatch");
  index.dispose();
});

Deno.test("a saved IVF index takes its lists from its saved centroids (no k-means); an older folder without them loads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const index = await run(ivfIndex(points, { name: "test", seed: 3 }));
    const { centroids, ivf: { lists } } = index;
    const dim = points.cols;
    await run(saveIndex(index, dir));
    const json = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
    // The same centroids in reverse order: k-means would give the saved order back, so a loaded
    // index holding the reversed order was laid out from the file.
    const reversed = new Float32Array(centroids.length);
    for (let l = 0; l < lists; l++) {
      reversed.set(centroids.subarray((lists - 1 - l) * dim, (lists - l) * dim), l * dim);
    }
    const bytes = await run(encodeNpy(reversed, [lists, dim]));
    await Deno.writeFile(`${dir}/centroids.npy`, bytes);
    await Deno.writeTextFile(
      `${dir}/index.json`,
      JSON.stringify({
        ...json,
        contents: {
          ...json.contents,
          centroids: { file: "centroids.npy", sha256: sha256Hex(bytes) },
        },
      }),
    );
    const loaded = await run(loadIndex(dir)) as IvfIndex;
    assert.equal(loaded.kind, "ivf");
    assert.deepEqual(loaded.centroids, reversed, "the saved centroids, not k-means' own");
    assert.notDeepEqual(loaded.centroids, centroids);
    // The same lists (in another order): the same neighbours.
    assert.deepEqual(
      (await run(loaded.search(queries, 3))).indices,
      (await run(index.search(queries, 3))).indices,
    );
    loaded.dispose();
    // A centroids file that does not match its sha256 is refused, naming it.
    await Deno.writeFile(`${dir}/centroids.npy`, await run(encodeNpy(centroids, [lists, dim])));
    const corrupt = await failure(loadIndex(dir));
    assert.equal(corrupt._tag, "CorruptIndex");
    assert.match(corrupt.message, /centroids\.npy does not match its sha256/);
    // A missing one is an IndexIoError naming the file.
    await Deno.remove(`${dir}/centroids.npy`);
    const missing = await failure(loadIndex(dir));
    assert.equal(missing._tag, "IndexIoError");
    assert.match(missing.message, /centroids\.npy/);
    // A folder saved before the centroids were: its lists are rebuilt by the same k-means.
    const { centroids: _, ...older } = json.contents;
    await Deno.writeTextFile(`${dir}/index.json`, JSON.stringify({ ...json, contents: older }));
    const rebuilt = await run(loadIndex(dir)) as IvfIndex;
    assert.equal(rebuilt.kind, "ivf");
    assert.deepEqual(rebuilt.centroids, centroids);
    assert.deepEqual(await run(rebuilt.search(queries, 3)), await run(index.search(queries, 3)));
    rebuilt.dispose();
    index.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
