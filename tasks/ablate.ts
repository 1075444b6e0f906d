/**
 * `deno task ablate <spec.json> [--out results/ablations] [--no-cache] [--allow-large-grid]`:
 * expand an ablation spec (GROOD parameters given as lists; its `benchmark` a built-in name or a
 * benchmark file, relative to the spec file) into pipelines, run them on one prepared benchmark
 * (features extracted once; every stage cached), and write one table with a column per
 * parameter: `<out>/<name>/{summary,results}.{csv,md}`, `ablation.json` and a plot of AUROC
 * against λ per early layer. The spec is checked strictly (every problem at once, with the
 * file's name) and against the data and model before any computation; a grid of more than
 * 1,000 variants needs `--allow-large-grid`.
 *
 * @module
 */
import { Effect } from "effect";
import { dirname, join, resolve } from "node:path";
import { ablateTask } from "../apps/cli/commands/ablate.ts";
import { formatSeconds, invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { benchmarkInputs, BUILTIN_BENCHMARKS, readBenchmark } from "../lib/benchmarks/mod.ts";
import {
  checkOutputFolder,
  checkOutputRoot,
  ensureWritable,
  identifierProblem,
  type OutputFolderOptions,
  prepareOutputRoot,
  tryIo,
  writeFileAtomic,
  writeJsonAtomic,
  writeOutputFolder,
} from "../lib/io/mod.ts";
import { cacheSummary, DEFAULT_CACHE_DIR } from "../lib/cache/mod.ts";
import { StageCache } from "../mod.ts";
import { terminalProgress } from "../apps/cli/progress.ts";
import { readSpecFile, runAblationJson, SUMMARY_METRICS } from "../lib/pipeline/mod.ts";
import { ablationChart } from "../lib/report/mod.ts";
import { inPercent, writePlot } from "../apps/results/mod.ts";

const { values, positionals } = await taskInput(ablateTask);

const specFile = invocationPath(positionals[0]!);
// Relative to where the command was typed, as the spec file is.
const out = invocationPath(values.out);
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const program = Effect.gen(function* () {
  const started = performance.now();
  const cache = yield* StageCache;
  const raw = yield* readSpecFile(specFile, (input) => Effect.succeed(input));
  // A benchmark file named in an ablation spec is relative to the spec file.
  const located = isRecord(raw) && typeof raw.benchmark === "string" &&
      !(BUILTIN_BENCHMARKS as ReadonlyArray<string>).includes(raw.benchmark)
    ? { ...raw, benchmark: resolve(dirname(specFile), raw.benchmark) }
    : raw;
  const spec = isRecord(located) && values.engine !== undefined
    ? { ...located, engine: values.engine }
    : located;
  // The folders written may be written (absent, empty or grood's; never an input or the
  // current folder) and can be: checked now, not after the whole computation. A name that is
  // not an identifier is refused by the spec's decoding below, before any computation.
  const benchmark = isRecord(located) && typeof located.benchmark === "string"
    ? yield* readBenchmark(located.benchmark)
    : undefined;
  const inputs = [
    specFile,
    ...(benchmark === undefined ? [] : benchmarkInputs(benchmark)),
    ...(isRecord(located) && typeof located.model === "string"
      ? [resolve(dirname(specFile), located.model)]
      : []),
  ];
  const rootRules: OutputFolderOptions = { kind: "ablation results", inputs };
  const folderRules: OutputFolderOptions = { ...rootRules, recognise: ["ablation.json"] };
  yield* checkOutputRoot(out, rootRules);
  if (
    isRecord(raw) && typeof raw.name === "string" && identifierProblem(raw.name) === undefined
  ) yield* checkOutputFolder(join(out, raw.name), folderRules);
  yield* ensureWritable(out);
  const result = yield* runAblationJson(spec, {
    source: specFile,
    allowLargeGrid: values["allow-large-grid"],
  });
  const dir = join(out, result.spec.name);
  const columns = [
    "detector",
    "oodPrototype",
    "lambda",
    "earlyBoundary",
    "samples",
    "k",
    "temperature",
    "descriptor",
    "index",
    ...SUMMARY_METRICS,
  ];
  const summary = result.summary.select(...columns);
  const markdown = summary.toMarkdown({ format: inPercent(SUMMARY_METRICS) });
  // The ablation's folder is written as a unit: a failure leaves the previous results.
  yield* prepareOutputRoot(out, rootRules);
  yield* writeOutputFolder(dir, folderRules, (tmp) =>
    tryIo(tmp, "write results into", async () => {
      await writeFileAtomic(join(tmp, "summary.csv"), summary.toCSV() + "\n");
      await writeFileAtomic(join(tmp, "results.csv"), result.results.toCSV() + "\n");
      await writeFileAtomic(
        join(tmp, "summary.md"),
        `# Ablation "${result.spec.name}" on ${result.spec.benchmark}\n\n` +
          `${result.spec.description ?? ""}\n\nMetrics in %.\n\n${markdown}\n`,
      );
      await writeJsonAtomic(join(tmp, "ablation.json"), {
        spec: result.spec,
        variants: result.variants,
        summary: summary.objects(),
        seconds: Math.round((performance.now() - started) / 1000),
      });
      const sweep = result.summary.filter((
        d: { oodPrototype: string; samples: unknown; k: number },
      ) => d.oodPrototype === "mixup" && d.samples === 10000 && d.k === 1);
      if (sweep.numRows() > 1) {
        await writePlot(
          join(tmp, "auroc-vs-lambda.png"),
          ablationChart(sweep, "lambda", "nearAuroc", "earlyBoundary"),
        );
      }
    }));
  console.log(`\n${markdown}\n`);
  console.log(
    `ablation "${result.spec.name}": ${result.variants.length} variants in ${
      formatSeconds((performance.now() - started) / 1000)
    }; results in ${dir}/`,
  );
  console.log(cacheSummary(cache.stats()));
});

await runTask(
  Effect.provide(program, [
    StageCache.layer(values["no-cache"] ? undefined : DEFAULT_CACHE_DIR),
    terminalProgress(),
  ]),
  values.backend,
  { threads: values.threads },
);
