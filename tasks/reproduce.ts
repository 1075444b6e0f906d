/**
 * `deno task reproduce`: GROOD, its ablations and every baseline on both benchmarks with the
 * fixture models. Prints the ranked table and GROOD's per-set numbers, measures HNSW's recall
 * against exact search on the real descriptors, and writes `results/<benchmark>/`: results
 * (JSON, CSV, Markdown), plots (PNG), and `.npy` exports with a manifest.
 *
 * Flags: `--benchmark NAME|FILE` (repeatable: a built-in benchmark, `mnist` or `fashion-mnist`,
 * or a benchmark file such as `my.json`; default both built-ins), `--retrain` (train the
 * fixture models of the built-in benchmarks again first), `--no-cache`, `--no-export`, `--export-early` (also the early features of
 * the test sets: ~250 MB per 10,000 images), `--out DIR` (default `results`), `--backend`.
 *
 * @module
 */
import { Effect } from "effect";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatSeconds, runTask } from "../lib/cli.ts";
import { Compute } from "../lib/compute/compute.ts";
import { BUILTIN_BENCHMARKS, readBenchmark } from "../lib/benchmarks/load.ts";
import { invocationPath } from "../lib/cli.ts";
import { REPRODUCE_DETECTORS } from "../lib/detectors/mod.ts";
import { GROOD_DEFAULTS } from "../lib/detectors/grood.ts";
import { writeJsonAtomic } from "../lib/files.ts";
import { trainFixture } from "../lib/model/fixture.ts";
import { StageCache } from "../lib/pipeline/cache.ts";
import { runPipeline } from "../lib/pipeline/pipeline.ts";
import { hnswRecall } from "../lib/pipeline/recall.ts";
import type { DetectorSpec } from "../lib/pipeline/spec.ts";
import { writeExports } from "../lib/report/exports.ts";
import { writeReportPlots } from "../lib/report/plots.ts";
import { consoleProgress } from "../lib/report/progress.ts";
import { perSetMarkdown, summaryMarkdown, writeResults } from "../lib/report/tables.ts";

const { values } = parseArgs({
  options: {
    benchmark: { type: "string", multiple: true },
    retrain: { type: "boolean", default: false },
    "no-cache": { type: "boolean", default: false },
    "no-export": { type: "boolean", default: false },
    "export-early": { type: "boolean", default: false },
    out: { type: "string", default: "results" },
    backend: { type: "string" },
  },
});

// A file path is relative to where `deno task` was typed, not to the checkout.
const refs = (values.benchmark ?? [...BUILTIN_BENCHMARKS]).map((ref) =>
  (BUILTIN_BENCHMARKS as ReadonlyArray<string>).includes(ref) ? ref : invocationPath(ref)
);
/** GROOD with the exact index (the default) and with HNSW, then the ablations and baselines. */
const detectors: ReadonlyArray<DetectorSpec> = [
  REPRODUCE_DETECTORS[0]!,
  { kind: "grood", index: "hnsw", name: "GROOD (HNSW)" },
  ...REPRODUCE_DETECTORS.slice(1),
];

const program = Effect.gen(function* () {
  const { tf, backend } = yield* Compute;
  const started = performance.now();
  const log = (line: string) => console.log(line);
  const specs = [];
  for (const ref of refs) specs.push(yield* readBenchmark(ref));
  if (values.retrain) {
    for (const spec of specs) {
      const train = spec.id.train;
      if (spec.model.kind !== "grood" || train.kind !== "dataset") {
        return yield* Effect.fail(
          new Error(
            `Cannot retrain for benchmark "${spec.name}": --retrain trains grood's fixture ` +
              "models on a registered dataset; train your own model and name it in the file",
          ),
        );
      }
      yield* trainFixture({ dataset: train.name, out: resolve(spec.baseDir, spec.model.path) });
    }
  }
  const names = specs.map((s) => s.name);
  for (const [i, spec] of specs.entries()) {
    const name = spec.name;
    const benchmarkStart = performance.now();
    console.log(`\n== benchmark ${name} (backend ${backend}) ==`);
    const result = yield* runPipeline(
      { benchmark: refs[i]!, detectors },
      { log, progress: consoleProgress() },
    );
    const { prepared, runs } = result;
    const grood = runs.find((r) => r.detector === "GROOD")!;
    const recall = yield* hnswRecall(prepared, grood);
    log(
      `HNSW (M ${recall.params.M}, efConstruction ${recall.params.efConstruction}, efSearch ${recall.params.efSearch}) ` +
        `vs exact on ${recall.indexed} real training descriptors, ${recall.queries} queries: ` +
        `recall@1 ${recall.recallAt1.toFixed(4)}, recall@10 ${recall.recallAt10.toFixed(4)}`,
    );
    const dir = join(values.out, name);
    const seconds = (performance.now() - benchmarkStart) / 1000;
    const { summary, results } = yield* Effect.promise(() =>
      writeResults(dir, runs, {
        benchmark: name,
        model: prepared.model.path,
        modelTestAccuracy: prepared.model.metadata.testAccuracy,
        idTestImages: prepared.idTest.images.count,
        groodDefaults: GROOD_DEFAULTS,
        hnswRecall: recall,
        backend,
        seconds: Math.round(seconds),
        date: new Date().toISOString(),
      })
    );
    yield* Effect.promise(() => writeReportPlots(join(dir, "plots"), runs));
    if (!values["no-export"]) {
      const entries = yield* writeExports(join(dir, "exports"), prepared, runs, {
        ...(values["export-early"] ? { tf, earlyBoundary: GROOD_DEFAULTS.earlyBoundary } : {}),
      });
      log(`exports: ${entries.length} .npy files in ${join(dir, "exports")} (manifest.json)`);
    }
    console.log(`\n${name}: ranked by mean of near and far AUROC (%)\n`);
    console.log(summaryMarkdown(summary));
    console.log(`\n${name}: GROOD per OOD set (%)\n`);
    console.log(
      perSetMarkdown(results.filter((d: { detector: string }) => d.detector === "GROOD")),
    );
    console.log(`\n${name} done in ${formatSeconds(seconds)}; results in ${dir}/`);
    prepared.model.net.dispose();
  }
  yield* Effect.promise(() =>
    writeJsonAtomic(join(values.out, "reproduce.json"), {
      benchmarks: names,
      seconds: Math.round((performance.now() - started) / 1000),
      backend,
      date: new Date().toISOString(),
    })
  );
  console.log(`\nreproduce finished in ${formatSeconds((performance.now() - started) / 1000)}`);
});

await runTask(
  Effect.provide(program, StageCache.layer(values["no-cache"] ? undefined : "cache")),
  values.backend,
);
