/**
 * The exact index's search on one thread and on two (the calling thread and a Web Worker), on
 * the data `deno task reproduce` and `deno task score` search, read from a stage cache that a
 * `reproduce` run filled:
 *
 *   deno run -A bench/exact_threads.ts --cache /path/to/cache [--rounds 5] [--label after]
 *
 * - `knn`: the KNN detector's search: 60,000 L2-normalised mnist training features (64-d) of
 *   one trained model, queried by every other feature set of that model (test, validation and
 *   OOD sets, 37,619 rows), k = 50.
 * - `grood`: GROOD's search at reproduce scale: 50,000 GROOD training descriptors indexed, the
 *   rest of the set queried (about 9,900 rows), k = 1.
 * - `score-idle`, `score-busy`: the `score` path's batch: 256 queries against 9,000 GROOD
 *   descriptors (held-out training descriptors stand in for a batch's), k = 1; `-busy` with a
 *   Worker spinning all along, standing in for onnxruntime's worker computing the next batch.
 *   The two-thread index is made with `parallelWork: 0`, so it does use its worker on the
 *   two query blocks of a batch (the default keeps such a search on the calling thread).
 *
 * Each index is built once and searched once before timing (which starts its worker); then the
 * one- and two-thread searches alternate, in ABBA order, `--rounds` times each, so a change in
 * the machine's load hits both alike. Each round's `uptime` is recorded. Results are checked
 * bit for bit between the two. Writes `bench/exact_threads.json` (the section `--label`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { Effect } from "effect";
import { decodeNpy } from "../lib/io/mod.ts";
import { concatRows, type Matrix } from "../lib/data/mod.ts";
import {
  exactIndex,
  type ExactIndexOptions,
  type NearestNeighbourIndex,
  type Neighbours,
  searchStats,
} from "../lib/knn/mod.ts";
import { l2Normalise } from "../lib/detectors/mod.ts";
import { CHECKOUT, commitOf, uptime } from "./product_paths_file.ts";

const { values } = parseArgs({
  options: {
    cache: { type: "string" },
    rounds: { type: "string" },
    label: { type: "string" },
    only: { type: "string" },
  },
});
if (values.cache === undefined) throw new Error("--cache DIR (a stage cache reproduce filled)");
const cache = values.cache;
const rounds = Number(values.rounds ?? 5);
const label = values.label ?? "run";
const only = values.only?.split(",");

interface Entry {
  readonly dir: string;
  readonly parts: Record<string, unknown>;
  readonly meta: { readonly name?: string } | null;
  readonly rows: number;
}

const entries = async (stage: string): Promise<Array<Entry>> => {
  const found: Array<Entry> = [];
  for await (const item of Deno.readDir(join(cache, stage))) {
    const dir = join(cache, stage, item.name);
    const text = await Deno.readTextFile(join(dir, "entry.json")).catch(() => undefined);
    if (text !== undefined) found.push({ dir, ...JSON.parse(text) });
  }
  return found.sort((a, b) => a.dir.localeCompare(b.dir));
};

const readMatrix = async (path: string): Promise<Matrix> => {
  const npy = await Effect.runPromise(decodeNpy(await Deno.readFile(path), path));
  const [rows, cols] = npy.shape as [number, number];
  return { rows, cols, data: Float32Array.from(npy.data as ArrayLike<number>) };
};

const slice = (m: Matrix, from: number, to: number): Matrix => ({
  rows: to - from,
  cols: m.cols,
  data: m.data.slice(from * m.cols, to * m.cols),
});

/** The KNN case: one model's mnist training features, and its other sets as queries. */
async function knnCase(): Promise<Case> {
  const features = await entries("features");
  const train = features.find((e) => e.meta?.name === "mnist/train" && e.rows === 60_000);
  if (train === undefined) throw new Error(`no 60,000-row mnist/train features in ${cache}`);
  const others = features.filter((e) =>
    e.parts.model === train.parts.model && e !== train && e.meta?.name !== "mnist/train"
  );
  const points = l2Normalise(await readMatrix(join(train.dir, "penultimate.npy")));
  const sets = await Promise.all(others.map((e) => readMatrix(join(e.dir, "penultimate.npy"))));
  const queries = l2Normalise(concatRows(sets));
  return { name: "knn", points, queries, k: 50, source: `${train.dir} (+ ${others.length} sets)` };
}

/** GROOD's training descriptors (the first cached set at temperature 1). */
async function descriptors(): Promise<{ readonly matrix: Matrix; readonly dir: string }> {
  const found = (await entries("descriptors")).find((e) => e.parts.temperature === 1);
  if (found === undefined) throw new Error(`no GROOD descriptors in ${cache}`);
  return { matrix: await readMatrix(join(found.dir, "matrix.npy")), dir: found.dir };
}

interface Case {
  readonly name: string;
  readonly points: Matrix;
  readonly queries: Matrix;
  readonly k: number;
  readonly source: string;
  readonly busy?: boolean;
}

const time = (index: NearestNeighbourIndex, queries: Matrix, k: number) => {
  const start = performance.now();
  const found = Effect.runSync(index.search(queries, k));
  return { seconds: (performance.now() - start) / 1000, found };
};

const sameBits = (a: Neighbours, b: Neighbours) =>
  a.indices.every((v, i) => v === b.indices[i]) &&
  a.distances.every((v, i) => Object.is(v, b.distances[i]));

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * A Worker spinning until told to stop: another thread's load, as onnxruntime's worker makes.
 * It stops on a shared flag (a worker busy in a loop may not see `terminate()`).
 */
const spinner = () => {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const source = "onmessage = (e) => { const stop = e.data; let x = 1; " +
    "while (Atomics.load(stop, 0) === 0) { for (let i = 0; i < 1e5; i++) x = Math.sin(x) + 1; } " +
    "close(); };";
  const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  worker.postMessage(stop);
  return {
    stop: () => {
      Atomics.store(stop, 0, 1);
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
};

async function measure(c: Case) {
  const settings: Array<ExactIndexOptions> = [
    { threads: 1 },
    { threads: 2, parallelWork: 0 },
  ];
  const indexes = await Promise.all(
    settings.map((options) => Effect.runPromise(exactIndex(c.points, options))),
  );
  // Warm-up: compiles the kernel, starts the worker.
  const reference = indexes.map((index) => time(index, c.queries, c.k).found);
  if (!sameBits(reference[0]!, reference[1]!)) throw new Error(`${c.name}: threads differ`);
  const busy = c.busy === true ? spinner() : undefined;
  if (busy !== undefined) await new Promise((resolve) => setTimeout(resolve, 500));
  const runs: Array<{ threads: number; seconds: number; uptime: string }> = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const which of order) {
      const { seconds, found } = time(indexes[which]!, c.queries, c.k);
      if (!sameBits(found, reference[0]!)) throw new Error(`${c.name}: a search differs`);
      runs.push({ threads: settings[which]!.threads!, seconds, uptime: await uptime() });
    }
  }
  busy?.stop();
  const stats = searchStats(indexes[1]!);
  for (const index of indexes) index.dispose();
  const secondsOf = (threads: number) =>
    runs.filter((r) => r.threads === threads).map((r) => r.seconds);
  const one = secondsOf(1);
  const two = secondsOf(2);
  const result = {
    source: c.source,
    points: [c.points.rows, c.points.cols],
    queries: c.queries.rows,
    k: c.k,
    busyNeighbour: c.busy === true,
    stats,
    median: { 1: median(one), 2: median(two) },
    best: { 1: Math.min(...one), 2: Math.min(...two) },
    speedupOfMedians: median(one) / median(two),
    runs,
  };
  console.log(
    `${c.name}: 1 thread ${result.median[1].toFixed(3)} s, 2 threads ${
      result.median[2].toFixed(3)
    } s (medians of ${rounds}): ×${result.speedupOfMedians.toFixed(2)}`,
  );
  return result;
}

const before = await uptime();
const grood = await descriptors();
const g = grood.matrix;
const cases: Array<() => Promise<Case>> = [
  knnCase,
  () =>
    Promise.resolve({
      name: "grood",
      points: slice(g, 0, 50_000),
      queries: slice(g, 50_000, g.rows),
      k: 1,
      source: grood.dir,
    }),
  ...[false, true].map((busy) => () =>
    Promise.resolve({
      name: busy ? "score-busy" : "score-idle",
      points: slice(g, 0, 9_000),
      queries: slice(g, 9_000, 9_256),
      k: 1,
      source: grood.dir,
      busy,
    })
  ),
];
const results: Record<string, unknown> = {};
for (const make of cases) {
  const c = await make();
  if (only !== undefined && !only.includes(c.name)) continue;
  results[c.name] = await measure(c);
}
const file = join(CHECKOUT, "bench/exact_threads.json");
const all = JSON.parse(await Deno.readTextFile(file).catch(() => "{}"));
all[label] = {
  commit: await commitOf(),
  date: new Date().toISOString(),
  command:
    `deno run -A bench/exact_threads.ts --cache ${cache} --rounds ${rounds} --label ${label}`,
  uptimeBefore: before,
  uptimeAfter: await uptime(),
  cases: results,
};
await Deno.writeTextFile(file, JSON.stringify(all, null, 2) + "\n");
