/**
 * The k-NN scale table of issue 13: for each index size and dimension (synthetic descriptors
 * matching the real ones' statistics, plus the real descriptors), each method's build time,
 * queries per second, recall@1 and @10 against exact search, and peak resident memory.
 *
 * Every configuration runs in a child process of its own (`scale_run.ts`), so one's memory
 * cannot inflate another's peak, with a time budget: a configuration still building when it
 * runs out is stopped and recorded as such, with how far it got. The load of the machine is
 * recorded before and after each one, and a configuration is marked `loaded` when other
 * processes used more than a quarter of a core as it started.
 *
 * @module
 */
import { Cause, Effect } from "effect";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { writeNpyAtomic } from "../../lib/io/mod.ts";
import type { Matrix } from "../../lib/data/mod.ts";
import { busyCores, type LoadSample, loadSample } from "./machine.ts";
import type { DescriptorStats } from "./descriptor_stats.ts";
import { type Figure, figure } from "./report.ts";
import { decodeChildMeasurement } from "./scale_files.ts";
import type { ScaleConfig, ScaleData, ScaleMeasurement, ScaleMethod } from "./scale_run.ts";

/** Sizes, dimensions and methods of a scale run. */
export interface ScalePlan {
  /** Synthetic index sizes (rows). */
  readonly sizes: ReadonlyArray<number>;
  readonly dims: ReadonlyArray<number>;
  /** Methods, each up to a largest size (rows). */
  readonly methods: ReadonlyArray<{ readonly method: ScaleMethod; readonly maxRows: number }>;
  /** Queries per configuration. */
  readonly queries: number;
  /** Timed runs of the k = 1 search. */
  readonly runs: number;
  /**
   * Seconds a configuration may take to make its points, and again to build its index,
   * before it is stopped (its searches get {@link SEARCH_BUDGET_FACTOR} times as long).
   */
  readonly budgetSeconds: number;
  /** Search threads of grood's IVF kind. */
  readonly ivfThreads: number;
  /** Run only the sets with these labels (e.g. `synthetic-1.28Mx512`, `real-59.9kx64`). */
  readonly sets?: ReadonlyArray<string>;
}

/** The size and dimension the targets apply to, and the targets (issue 13). */
export const SCALE_TARGET = {
  rows: 1_280_000,
  dim: 512,
  buildSeconds: 600,
  queriesPerSecond: 1000,
  recall1: 0.99,
  peakRssBytes: 4e9,
} as const;

/** Every method on every size. */
const everyMethod = (): ScalePlan["methods"] => [
  { method: "exact", maxRows: Infinity },
  { method: "hnsw", maxRows: Infinity },
  { method: "ivf", maxRows: Infinity },
];

/** The full table: 60k, 600k and 1.28M rows × D = 64 and 512. */
export const SCALE_FULL: ScalePlan = {
  sizes: [60_000, 600_000, 1_280_000],
  dims: [64, 512],
  methods: everyMethod(),
  queries: 500,
  runs: 2,
  // The build target: an index not built by then has missed it; stopping it saves the hour.
  budgetSeconds: 600,
  ivfThreads: navigator.hardwareConcurrency,
};

/** A smoke run on small sizes. */
export const SCALE_QUICK: ScalePlan = {
  sizes: [2_000, 8_000],
  dims: [16, 64],
  methods: everyMethod(),
  queries: 200,
  runs: 2,
  budgetSeconds: 300,
  ivfThreads: navigator.hardwareConcurrency,
};

/** How one configuration ended. */
export type ScaleOutcome =
  | { readonly status: "done"; readonly measurement: ScaleMeasurement }
  | {
    readonly status: "stopped";
    /** What it was doing: making its points (for exact and hnswlib, before the build), building, or searching. */
    readonly phase: "data" | "build" | "search";
    /** Points the build had added when the budget ran out. */
    readonly pointsAdded: number;
    readonly seconds: number;
  }
  | { readonly status: "failed"; readonly message: string };

/** One row of the table: what was run, under which load, and how it ended. */
export interface ScaleRow {
  readonly label: string;
  readonly data: "synthetic" | "real";
  readonly rows: number;
  readonly dim: number;
  readonly method: ScaleMethod;
  readonly outcome: ScaleOutcome;
  readonly load: {
    readonly before: LoadSample;
    readonly after: LoadSample;
    /** Cores' worth of CPU other processes used in the second before the child started. */
    readonly othersBusyCores: number;
    readonly loaded: boolean;
  };
}

/** The searches of a configuration may take this many times its build budget. */
export const SEARCH_BUDGET_FACTOR = 4;

const CHILD = fileURLToPath(new URL("./scale_run.ts", import.meta.url));

/**
 * Run one configuration in a child process. Making its points and building its index must
 * each be done within `budgetSeconds`, and the searches within {@link SEARCH_BUDGET_FACTOR}
 * times as long; otherwise it is stopped (the row says in which phase, and how far the build
 * got).
 */
async function runChild(config: ScaleConfig, budgetSeconds: number): Promise<ScaleOutcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, JSON.stringify(config)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const started = performance.now();
  let pointsAdded = 0;
  let stderrTail = "";
  let stopped = false;
  let phase: "data" | "build" | "search" = "data";
  const stop = () => {
    stopped = true;
    child.kill("SIGKILL");
  };
  let timer = setTimeout(stop, budgetSeconds * 1000);
  let buildStarted = 0;
  const decoder = new TextDecoder();
  const readErr = (async () => {
    for await (const bytes of child.stderr) {
      const text = decoder.decode(bytes, { stream: true });
      stderrTail = (stderrTail + text).slice(-4000);
      // The budget restarts when the points are made (IVF makes them as it builds).
      if (/^data /m.test(text) && !stopped && phase === "data") {
        phase = "build";
        buildStarted = performance.now();
        clearTimeout(timer);
        timer = setTimeout(stop, budgetSeconds * 1000);
      }
      for (const match of text.matchAll(/progress (\d+) [\d.]+(?: ([\d.]+))?/g)) {
        pointsAdded = Number(match[1]);
        // A build fed chunk by chunk reports the seconds spent making its points: not build time.
        if (match[2] !== undefined && phase === "build" && !stopped) {
          clearTimeout(timer);
          const left = budgetSeconds * 1000 - (performance.now() - buildStarted) +
            Number(match[2]) * 1000;
          timer = setTimeout(stop, Math.max(0, left));
        }
      }
      if (/^built /m.test(text) && !stopped) {
        phase = "search";
        clearTimeout(timer);
        timer = setTimeout(stop, SEARCH_BUDGET_FACTOR * budgetSeconds * 1000);
      }
    }
  })();
  const [status, stdout] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    readErr,
  ]);
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  if (stopped) return { status: "stopped", phase, pointsAdded, seconds };
  const last = stdout.trim().split("\n").at(-1) ?? "";
  if (!status.success || !last.startsWith("{")) {
    return {
      status: "failed",
      message: `exit ${status.code}: ${stderrTail.trim().split("\n").slice(-5).join(" | ")}`,
    };
  }
  // A child that printed something else than a measurement failed, whatever its exit code.
  const decoded = Effect.runSyncExit(decodeChildMeasurement(last, `${config.method} child`));
  return decoded._tag === "Success"
    ? { status: "done", measurement: decoded.value }
    : { status: "failed", message: String(Cause.squash(decoded.cause)) };
}

/** The figures of one row (targets on the target size and dimension only). */
export function scaleFigures(row: ScaleRow): Array<Figure> {
  const id = `scale.${row.label}.${row.method}`;
  const name = `scale ${row.label} ${row.method}`;
  const onTarget = row.data === "synthetic" && row.rows === SCALE_TARGET.rows &&
    row.dim === SCALE_TARGET.dim;
  const t = <T>(target: T) => (onTarget ? { target } : {});
  const note = row.load.loaded
    ? `LOADED: others used ${row.load.othersBusyCores.toFixed(2)} cores at the start`
    : undefined;
  const withNote = (o: object) => (note === undefined ? o : { ...o, note });
  const o = row.outcome;
  if (o.status === "stopped") {
    // Only a stop in the build says the build target was missed.
    const missed = o.phase === "build";
    return [
      figure(`${id}.build`, `${name}: stopped in its ${o.phase} phase`, "s", [o.seconds], {
        ...(missed ? t({ op: "<" as const, value: SCALE_TARGET.buildSeconds }) : {}),
        note: `stopped after ${o.seconds.toFixed(0)} s in total, ${o.phase} phase, with ` +
          `${o.pointsAdded} of ${row.rows} points added${note === undefined ? "" : `; ${note}`}`,
      }),
    ];
  }
  if (o.status === "failed") return [];
  const m = o.measurement;
  return [
    figure(
      `${id}.build`,
      `${name}: build`,
      "s",
      [m.buildSeconds],
      withNote(t({ op: "<=" as const, value: SCALE_TARGET.buildSeconds })),
    ),
    figure(
      `${id}.qps`,
      `${name}: 1-NN queries/s`,
      "queries/s",
      m.queriesPerSecond,
      withNote(t({ op: ">=" as const, value: SCALE_TARGET.queriesPerSecond })),
    ),
    figure(
      `${id}.recall1`,
      `${name}: recall@1 vs exact`,
      "ratio",
      [m.recall1],
      t({ op: ">=" as const, value: SCALE_TARGET.recall1 }),
    ),
    figure(`${id}.recall10`, `${name}: recall@10 vs exact`, "ratio", [m.recall10]),
    figure(
      `${id}.peak_rss`,
      `${name}: peak RSS of its process`,
      "bytes",
      [m.peakRssBytes],
      t({ op: "<=" as const, value: SCALE_TARGET.peakRssBytes }),
    ),
  ];
}

/** The label of a size: 60k, 1.28M. */
export function sizeLabel(rows: number): string {
  return rows >= 1e6
    ? `${+(rows / 1e6).toFixed(2)}M`
    : rows >= 1e3
    ? `${+(rows / 1e3).toFixed(1)}k`
    : `${rows}`;
}

/**
 * Run the scale table: the real descriptors (`real`, with their query descriptors) and
 * synthetic sets matching `stats`, every method of `plan`, each configuration in its own
 * process; `onRow` sees each row as it ends. Scratch files go to `workDir`.
 */
export const runScale = (
  plan: ScalePlan,
  real: { readonly train: Matrix; readonly queries: Matrix },
  stats: DescriptorStats,
  workDir: string,
  onRow: (row: ScaleRow) => void,
) =>
  Effect.gen(function* () {
    const statsFile = join(workDir, "stats.json");
    yield* Effect.promise(() => Deno.writeTextFile(statsFile, JSON.stringify(stats)));
    const trainFile = join(workDir, "real-train.npy");
    const queriesFile = join(workDir, "real-queries.npy");
    yield* writeNpyAtomic(trainFile, real.train.data, [real.train.rows, real.train.cols]);
    yield* writeNpyAtomic(queriesFile, real.queries.data, [real.queries.rows, real.queries.cols]);
    const sets: Array<{ label: string; data: ScaleData; rows: number; dim: number }> = [{
      label: `real-${sizeLabel(real.train.rows)}x${real.train.cols}`,
      data: { kind: "real", trainFile, queriesFile },
      rows: real.train.rows,
      dim: real.train.cols,
    }];
    for (const rows of plan.sizes) {
      for (const dim of plan.dims) {
        sets.push({
          label: `synthetic-${sizeLabel(rows)}x${dim}`,
          data: { kind: "synthetic", statsFile, rows, dim, world: 1 },
          rows,
          dim,
        });
      }
    }
    const rows: Array<ScaleRow> = [];
    for (const set of sets) {
      if (plan.sets !== undefined && !plan.sets.includes(set.label)) continue;
      const truthFile = join(workDir, `truth-${set.label}.npy`);
      let truthWritten = false;
      for (const { method, maxRows } of plan.methods) {
        if (set.rows > maxRows) continue;
        const othersBusy = yield* Effect.promise(() => busyCores(1000));
        const before = loadSample(`${set.label} ${method}`);
        const outcome: ScaleOutcome = method !== "exact" && !truthWritten
          ? { status: "failed", message: "no exact ground truth (the exact run did not finish)" }
          : yield* Effect.promise(() =>
            runChild({
              method,
              data: set.data,
              queries: plan.queries,
              truthFile,
              runs: plan.runs,
              ivfThreads: plan.ivfThreads,
            }, plan.budgetSeconds)
          );
        if (method === "exact" && outcome.status === "done") truthWritten = true;
        const row: ScaleRow = {
          label: set.label,
          data: set.data.kind,
          rows: set.rows,
          dim: set.dim,
          method,
          outcome,
          load: {
            before,
            after: loadSample(`${set.label} ${method} end`),
            othersBusyCores: othersBusy,
            loaded: !(othersBusy <= 0.25),
          },
        };
        rows.push(row);
        onRow(row);
      }
    }
    return rows;
  });
