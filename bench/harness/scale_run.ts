/**
 * One configuration of the k-NN scale table (`scale.ts`), run alone in its own process so its
 * peak resident memory is its own: `deno run -A bench/harness/scale_run.ts '<config JSON>'`
 * prints `data <seconds>` when the points are made, `progress <points added> <seconds>
 * [<seconds generating points so far>]` while building (the last for a build fed chunk by chunk:
 * the parent leaves that time out of the build's budget),
 * and `built <seconds>` on stderr, and one JSON
 * {@link ScaleMeasurement} as the last line of stdout.
 *
 * What it does: make the index points (synthetic, generated in chunks; or the real
 * descriptors from a `.npy`), build the index (timed), search a sample of queries for k = 1
 * (timed, median of runs) and k = 10, and compare with the exact search's neighbours:
 *
 * - **exact**: `exactIndex` (norm-pruned) over the whole set; its k = 10 neighbours are the
 *   ground truth of the other methods, written to `truthFile`;
 * - **hnsw**: `hnswIndex` (hnswlib-node, grood's HNSW option, default parameters, efSearch
 *   200: the scale table measures the graph, not the calibration);
 * - **ivf**: grood's `ivf` index kind (`ivfBuilder`: k-means lists searched exactly, nprobe
 *   calibrated at build, which is timed with it), filled chunk by chunk, so the float32 set is
 *   never held whole: its WebAssembly copy is the only one; searched on the plan's
 *   `ivfThreads` (every core).
 *
 * @module
 */
import { Effect } from "effect";
import {
  exactIndex,
  hnswIndex,
  ivfBuilder,
  type Neighbours,
  recallAtK,
} from "../../lib/knn/mod.ts";
import type { Matrix } from "../../lib/data/mod.ts";
import { readNpy, writeNpyAtomic } from "../../lib/io/mod.ts";
import { median } from "./measure.ts";
import { type DescriptorStats, readDescriptorStats } from "./descriptor_stats.ts";
import { syntheticDescriptors } from "./synthetic_descriptors.ts";

/** Index methods of the scale table. */
export const SCALE_METHODS = [
  "exact",
  "hnsw",
  "ivf",
] as const;
export type ScaleMethod = typeof SCALE_METHODS[number];

/** Where the points and queries of a configuration come from. */
export type ScaleData =
  | {
    readonly kind: "synthetic";
    /** JSON file of the {@link DescriptorStats} to match. */
    readonly statsFile: string;
    readonly rows: number;
    readonly dim: number;
    readonly world: number;
  }
  | { readonly kind: "real"; readonly trainFile: string; readonly queriesFile: string };

/** One configuration. */
export interface ScaleConfig {
  readonly method: ScaleMethod;
  readonly data: ScaleData;
  /** Queries searched (a seeded sample; synthetic queries come from their own stream). */
  readonly queries: number;
  /** The exact k = 10 neighbours of the queries (.npy): written by exact, read by the others. */
  readonly truthFile: string;
  /** Timed runs of the k = 1 search. */
  readonly runs: number;
  /** Search threads of grood's IVF kind. */
  readonly ivfThreads: number;
}

/** What one configuration measured. */
export interface ScaleMeasurement {
  readonly points: number;
  readonly dim: number;
  readonly queries: number;
  /** Seconds to generate or read the points (not part of the build, even when interleaved). */
  readonly dataSeconds: number;
  readonly buildSeconds: number;
  /** k = 1 searches of the query sample: queries per second, per timed run. */
  readonly queriesPerSecond: ReadonlyArray<number>;
  readonly recall1: number;
  readonly recall10: number;
  /** Peak RSS of this process (kernel high-water mark, VmHWM). */
  readonly peakRssBytes: number;
  /** RSS after the points were made, before the build. */
  readonly dataRssBytes: number;
}

const CHUNK = 65_536;
const K = 10;

/** The kernel's high-water mark of this process, or the current RSS off Linux. */
export function peakRss(): number {
  try {
    const line = Deno.readTextFileSync("/proc/self/status").split("\n")
      .find((l) => l.startsWith("VmHWM:"));
    if (line !== undefined) return Number(line.replace(/[^0-9]/g, "")) * 1024;
  } catch {
    // not Linux
  }
  return Deno.memoryUsage().rss;
}

const readMatrix = (path: string) =>
  Effect.map(readNpy(path), (a): Matrix => ({
    rows: a.shape[0]!,
    cols: a.shape[1]!,
    data: a.data instanceof Float32Array ? a.data : Float32Array.from(a.data),
  }));

/** The first `n` rows of a seeded permutation-free sample: every (rows/n)-th row. */
function spread(m: Matrix, n: number): Matrix {
  if (n >= m.rows) return m;
  const data = new Float32Array(n * m.cols);
  for (let i = 0; i < n; i++) {
    const r = Math.floor((i * m.rows) / n);
    data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  }
  return { rows: n, cols: m.cols, data };
}

/** Takes `rows` points starting at row `first`, with the seconds spent generating so far. */
type AddChunk = (chunk: Float32Array, first: number, rows: number, generating?: number) => void;

/**
 * Points of a synthetic set, `CHUNK` rows at a time, into `sink`; returns the seconds spent
 * generating them (not in `sink`), so a build fed chunk by chunk can leave them out.
 */
function streamPoints(
  data: Extract<ScaleData, { kind: "synthetic" }>,
  stats: DescriptorStats,
  sink: AddChunk,
): number {
  const stream = syntheticDescriptors(stats, data.dim, { world: data.world, stream: 1 });
  const buffer = new Float32Array(CHUNK * data.dim);
  let generating = 0;
  for (let first = 0; first < data.rows; first += CHUNK) {
    const rows = Math.min(CHUNK, data.rows - first);
    const t = performance.now();
    stream.fill(buffer, rows);
    generating += (performance.now() - t) / 1000;
    sink(buffer.subarray(0, rows * data.dim), first, rows, generating);
  }
  return generating;
}

function firstColumn(n: Neighbours): Neighbours {
  const pick = (a: Int32Array) => Int32Array.from({ length: n.rows }, (_, q) => a[q * n.k]!);
  return {
    rows: n.rows,
    k: 1,
    indices: pick(n.indices),
    distances: Float64Array.from({ length: n.rows }, (_, q) => n.distances[q * n.k]!),
  };
}

/** Measure one configuration (see the module doc). */
export const runScaleConfig = (config: ScaleConfig) =>
  Effect.gen(function* () {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const data = config.data;
    const stats: DescriptorStats | undefined = data.kind === "synthetic"
      ? yield* readDescriptorStats(data.statsFile)
      : undefined;
    // Queries: the real query descriptors (a spread sample), or a synthetic stream of their own.
    let queries: Matrix;
    let full: Matrix | undefined;
    if (data.kind === "real") {
      full = yield* readMatrix(data.trainFile);
      queries = spread(yield* readMatrix(data.queriesFile), config.queries);
    } else {
      const q = new Float32Array(config.queries * data.dim);
      syntheticDescriptors(stats!, data.dim, { world: data.world, stream: 2 }).fill(
        q,
        config.queries,
      );
      queries = { rows: config.queries, cols: data.dim, data: q };
    }
    const rows = data.kind === "real" ? full!.rows : data.rows;
    const dim = queries.cols;
    const streamed = config.method === "ivf";
    // Exact and hnswlib keep the float32 points (re-ranking, saving): make them whole.
    if (!streamed && full === undefined && data.kind === "synthetic") {
      const all = new Float32Array(rows * dim);
      streamPoints(data, stats!, (chunk, first) => all.set(chunk, first * dim));
      full = { rows, cols: dim, data: all };
    }
    const dataSeconds = seconds();
    console.error(`data ${dataSeconds.toFixed(1)}`);
    const dataRssBytes = Deno.memoryUsage().rss;
    const progress = (added: number, generating?: number) =>
      console.error(
        `progress ${added} ${seconds().toFixed(1)}${
          generating === undefined ? "" : ` ${generating.toFixed(1)}`
        }`,
      );

    let search: (q: Matrix, k: number) => Effect.Effect<Neighbours, unknown>;
    // Seconds generating synthetic points inside a chunk-by-chunk build (ivf): data time.
    let generating = 0;
    let buildSeconds: number;
    const buildStart = performance.now();
    /** Hand the points to `add` chunk by chunk; the seconds spent generating them. */
    const feed = (add: AddChunk): number => {
      if (full !== undefined) {
        for (let first = 0; first < rows; first += CHUNK) {
          const n = Math.min(CHUNK, rows - first);
          add(full.data.subarray(first * dim, (first + n) * dim), first, n);
        }
        return 0;
      }
      return data.kind === "synthetic" ? streamPoints(data, stats!, add) : 0;
    };
    if (config.method === "exact" || config.method === "hnsw") {
      const index = config.method === "exact"
        ? yield* exactIndex(full!)
        : yield* hnswIndex(full!, { seed: 0, onProgress: progress });
      buildSeconds = (performance.now() - buildStart) / 1000;
      search = (q, k) => index.search(q, k);
    } else {
      const builder = yield* ivfBuilder(rows, dim, { threads: config.ivfThreads });
      const add = (chunk: Float32Array, first: number, n: number, generating?: number) => {
        Effect.runSync(builder.add({ rows: n, cols: dim, data: chunk }));
        progress(first + n, generating);
      };
      generating = feed(add);
      const index = yield* builder.finish();
      buildSeconds = (performance.now() - buildStart) / 1000 - generating;
      const c = index.calibration;
      console.error(
        `ivf lists ${index.ivf.lists} nprobe ${index.ivf.nprobe}` +
          (c === undefined ? "" : ` (calibrated: recall@1 ${c.recall1} on ${c.sample})`),
      );
      search = (q, k) => index.search(q, k);
    }

    console.error(`built ${buildSeconds.toFixed(1)}`);
    const rates: Array<number> = [];
    let one: Neighbours | undefined;
    // Warm-up (JIT, caches) on a few queries: a full extra pass would cost minutes at 1.28M.
    const few = Math.min(50, queries.rows);
    yield* search({ rows: few, cols: dim, data: queries.data.subarray(0, few * dim) }, 1);
    for (let run = 0; run < config.runs; run++) {
      const t = performance.now();
      one = yield* search(queries, 1);
      rates.push(queries.rows / ((performance.now() - t) / 1000));
    }
    const ten = yield* search(queries, K);
    let truth: Neighbours;
    if (config.method === "exact") {
      truth = ten;
      yield* writeNpyAtomic(config.truthFile, ten.indices, [ten.rows, K]);
    } else {
      const stored = yield* readNpy(config.truthFile);
      truth = {
        rows: stored.shape[0]!,
        k: K,
        indices: Int32Array.from(stored.data),
        distances: new Float64Array(stored.data.length),
      };
    }
    return {
      points: rows,
      dim,
      queries: queries.rows,
      dataSeconds: dataSeconds + generating,
      buildSeconds,
      queriesPerSecond: rates,
      recall1: recallAtK(one!, firstColumn(truth), 1),
      recall10: recallAtK(ten, truth, K),
      peakRssBytes: peakRss(),
      dataRssBytes,
    } satisfies ScaleMeasurement;
  });

if (import.meta.main) {
  const config = JSON.parse(Deno.args[0]!) as ScaleConfig;
  const result = await Effect.runPromise(runScaleConfig(config));
  console.log(JSON.stringify({ ...result, median: median(result.queriesPerSecond) }));
  Deno.exit(0);
}
