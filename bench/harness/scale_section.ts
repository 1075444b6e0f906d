/**
 * Bench section 6, the k-NN scale table (`scale.ts`): measures the real descriptors'
 * statistics, checks that the generator reproduces them, runs every configuration in its own
 * process, and writes `bench/scale.json` (the rows with the load each ran under, the
 * statistics, the figures) and a Markdown table for docs/performance.md.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidInput } from "../../mod.ts";
import { type Matrix } from "../../lib/data/mod.ts";
import { osReason, writeJson } from "../../lib/io/mod.ts";
import type { Bench } from "./context.ts";
import { type DescriptorStats, descriptorStats } from "./descriptor_stats.ts";
import { machineInfo } from "./machine.ts";
import { median } from "./measure.ts";
import { formatValue, withLoad } from "./report.ts";
import { runScale, SCALE_TARGET, scaleFigures, type ScaleRow } from "./scale.ts";
import { decodeScaleTableRows } from "./scale_files.ts";
import { syntheticMatrix } from "./synthetic_descriptors.ts";

/** The real descriptors the table starts from. */
export interface ScaleInputs {
  readonly train: Matrix;
  readonly classes: Uint8Array;
  readonly queries: Matrix;
}

/** The generator check: the statistics of synthetic sets next to the real ones. */
function summary(s: DescriptorStats) {
  const q = (p: number) => 10 ** s.logNormQuantiles[p]!;
  return {
    normP1: q(1),
    normP50: q(50),
    normP99: q(99),
    medianCosineToClass: s.medianCosineToClass,
    medianCosineBetweenClasses: s.medianCosineBetweenClasses,
    leadingEigenvalues: s.spectrum.slice(0, 12),
    withinClassVariance: s.spectrum.reduce((a, b) => a + b, 0),
  };
}

/** One Markdown line per row: the scale table. */
export function scaleTable(rows: ReadonlyArray<ScaleRow>): string {
  const lines = [
    "| set | method | build | 1-NN queries/s | recall@1 | recall@10 | peak RSS | load |",
    "| --- | --- | --: | --: | --: | --: | --: | --- |",
  ];
  for (const row of rows) {
    const o = row.outcome;
    const load = `${row.load.loaded ? "loaded" : "quiet"} (${
      row.load.before.loadavg[0].toFixed(1)
    })`;
    if (o.status === "done") {
      const m = o.measurement;
      // The same median as the target line's.
      const qps = median(m.queriesPerSecond);
      lines.push(
        `| ${row.label} | ${row.method} | ${formatValue(m.buildSeconds, "s")} | ${
          Math.round(qps).toLocaleString("en-US")
        } | ${m.recall1.toFixed(4)} | ${m.recall10.toFixed(4)} | ${
          formatValue(m.peakRssBytes, "bytes")
        } | ${load} |`,
      );
    } else if (o.status === "stopped") {
      lines.push(
        `| ${row.label} | ${row.method} | stopped at ${
          o.seconds.toFixed(0)
        } s in its ${o.phase} phase (${o.pointsAdded.toLocaleString("en-US")} of ${
          row.rows.toLocaleString("en-US")
        } added) | | | | | ${load} |`,
      );
    } else {
      lines.push(`| ${row.label} | ${row.method} | failed: ${o.message} | | | | | ${load} |`);
    }
  }
  return lines.join("\n");
}

/**
 * The rows of the file as it stands after this run: the earlier rows of `previous` (the file
 * before it) in their order, each replaced by this run's row of the same set and method, then
 * this run's new rows. A run of some sets or methods (`--scale-sets`, `--scale-methods`) thus
 * updates the table instead of erasing it; every row keeps the load and the time it ran at.
 */
export function mergeScaleRows(
  previous: ReadonlyArray<ScaleRow>,
  done: ReadonlyArray<ScaleRow>,
): Array<ScaleRow> {
  const key = (row: ScaleRow) => `${row.label} ${row.method}`;
  const fresh = new Map(done.map((row) => [key(row), row]));
  const merged = previous.map((row) => fresh.get(key(row)) ?? row);
  const kept = new Set(previous.map(key));
  return [...merged, ...done.filter((row) => !kept.has(key(row)))];
}

/**
 * The rows of an earlier scale file at `path`, or none (no file, another format, a damaged
 * row: each is said, and the table starts anew).
 */
const previousRows = (path: string): Effect.Effect<ReadonlyArray<ScaleRow>> =>
  Effect.tryPromise({
    try: () =>
      Deno.readTextFile(path).catch((error) => {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }),
    catch: (error) =>
      new InvalidInput({
        source: path,
        problems: [{ path: "", problem: `cannot read it (${osReason(error)})` }],
      }),
  }).pipe(
    Effect.flatMap((text) =>
      text === undefined ? Effect.succeed([]) : decodeScaleTableRows(text, path)
    ),
    Effect.catch((error) =>
      Effect.sync(() => {
        console.log(`${error.message}; starting a new scale table`);
        return [];
      })
    ),
  );

/** Run the scale table on `inputs` and write it to `outFile`, merged with its earlier rows. */
export const scaleSection = Effect.fn("scaleSection")(function* (
  bench: Pick<Bench, "plan" | "emit" | "section">,
  inputs: ScaleInputs,
  outFile: string,
) {
  const plan = bench.plan.scale;
  bench.section("k-NN scale table (each configuration in its own process)");
  const real = descriptorStats(inputs.train, inputs.classes);
  const check = [64, 512].map((dim) => {
    // 10,000 rows: enough for the statistics, and the 512 × 512 scatter stays quick.
    const s = syntheticMatrix(real, dim, Math.min(10_000, inputs.train.rows), {
      world: 1,
      stream: 1,
    });
    return { dim, ...summary(descriptorStats(s.descriptors, s.classes)) };
  });
  const workDir = yield* Effect.promise(() => Deno.makeTempDir({ prefix: "grood-scale-" }));
  const started = new Date().toISOString();
  const earlier = yield* previousRows(outFile);
  const done: Array<ScaleRow> = [];
  /** The file as it stands: rewritten after every row, so a stopped run keeps what it measured. */
  const write = (complete: boolean) => {
    const rows = mergeScaleRows(earlier, done);
    return writeJson(outFile, {
      format: "grood-bench-scale",
      version: 1,
      started,
      updated: new Date().toISOString(),
      complete,
      machine: machineInfo(),
      plan,
      target: SCALE_TARGET,
      realStats: real,
      generatorCheck: { real: summary(real), synthetic: check },
      // This run's rows among `rows` (the others are kept from earlier runs).
      thisRun: done.map((row) => `${row.label} ${row.method}`),
      rows,
      figures: rows.flatMap((row) =>
        scaleFigures(row).map((f) => withLoad(f, row.load.before.loadavg, machineInfo().cores))
      ),
      markdown: scaleTable(rows),
    });
  };
  const rows = yield* Effect.ensuring(
    runScale(plan, inputs, real, workDir, (row) => {
      done.push(row);
      for (const f of scaleFigures(row)) bench.emit(f);
      if (row.outcome.status !== "done") {
        console.log(`scale ${row.label} ${row.method}: ${JSON.stringify(row.outcome)}`);
      }
      Effect.runFork(Effect.ignore(write(false)));
    }),
    Effect.promise(() => Deno.remove(workDir, { recursive: true }).catch(() => {})),
  );
  console.log(`\n${scaleTable(rows)}`);
  yield* write(true);
  return rows;
});
