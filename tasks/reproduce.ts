/**
 * `deno task reproduce`: GROOD, its ablations and every baseline on both benchmarks with the
 * fixture models. Prints the ranked table and GROOD's per-set numbers, measures HNSW's recall
 * against exact search on the real descriptors, and writes `results/<benchmark>/`: results
 * (JSON, CSV, Markdown), plots (PNG), the activation-ratio analysis behind the explanation of
 * ASH-S's and SCALE's results (`activation-ratio.{json,md}`), and `.npy` exports with a manifest
 * for every training seed's model (`exports/`, `seed<N>/exports/`).
 *
 * Flags: `--benchmark NAME|FILE` (repeatable: a built-in benchmark, `mnist` or `fashion-mnist`,
 * or a benchmark file such as `my.json`; default both built-ins), `--retrain` (train the
 * fixture models of the built-in benchmarks again first), `--no-cache`, `--no-export`,
 * `--export-early` (also the early features of the seed-0 model's test sets: ~250 MB per 10,000
 * images), `--out DIR` (default `results`), `--backend`,
 * `--detector KIND` (repeatable; any registered kind, see `lib/detectors/registry.ts`; GROOD
 * always runs).
 *
 * When fixtures of further training seeds exist (`fixtures/models/<dataset>-seed<N>/`, same
 * files as `fixtures/models/<dataset>/`), every detector also runs on each, results go to
 * `results/<benchmark>/seed<N>/`, and `results/<benchmark>/seeds.{json,md}` (and the
 * `trainingSeeds` member of `results.json`) hold mean ± sd per detector, the per-seed rows and
 * the paired differences (GROOD vs GROOD-no-mixup, GROOD vs KNN, GROOD-τ vs KNN).
 *
 * Also writes `results/report.html`, one self-contained results page gathering the latest
 * results of every benchmark in the results folder (each benchmark's part is its
 * `section.html`), so benchmarks run separately still share one page.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { join, resolve } from "node:path";
import { reproduceTask } from "../apps/cli/commands/reproduce.ts";
import { formatSeconds, invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskArgs, taskInput } from "../apps/cli/task_input.ts";
import { Compute, StageCache } from "../mod.ts";
import { terminalProgress } from "../apps/cli/progress.ts";
import {
  benchmarkInputs,
  BUILTIN_BENCHMARKS,
  fixtureDir,
  fixtureSeeds,
  readBenchmark,
} from "../lib/benchmarks/mod.ts";
import {
  DETECTOR_KINDS,
  detectorEntry,
  type DetectorSpecInput,
  GROOD_DEFAULTS,
  REPRODUCE_DETECTORS,
} from "../lib/detectors/mod.ts";
import {
  checkOutputFolder,
  ensureWritable,
  type OutputFolderOptions,
  OutputFolderRefused,
  portablePath,
  prepareOutputRoot,
  tryIo,
  writeFile,
  writeJson,
} from "../lib/io/mod.ts";
import {
  benchmarkFolderRules,
  benchmarkPage,
  benchmarkSection,
  type BenchmarkStaging,
  hnswRecall,
  pageSections,
  pairedMarkdown,
  perSetMarkdown,
  reportHtml,
  seedActivationRatios,
  type SeedRatios,
  type SeedRuns,
  seedSpreadMarkdown,
  summaryMarkdown,
  trainFixture,
  writeActivationRatios,
  writeBenchmarkFolder,
  writeExports,
} from "../apps/results/mod.ts";
import {
  type DetectorRun,
  type PreparedBenchmark,
  resultsTable,
  runPipeline,
  runPipelineScoped,
  summaryTable,
} from "../lib/pipeline/mod.ts";
import { cacheSummary, DEFAULT_CACHE_DIR } from "../lib/cache/mod.ts";

const { values } = await taskInput(reproduceTask);

/** The command line, recorded with the results. */
const command = ["grood reproduce", ...taskArgs()].join(" ");

/** `--detector` names no registered detector. */
class UnknownDetector extends Data.TaggedError("UnknownDetector")<{ readonly kind: string }> {
  override get message(): string {
    return `Cannot run detector "${this.kind}": --detector takes one of ${
      DETECTOR_KINDS.join(", ")
    }`;
  }
}

// A file path is relative to where `deno task` was typed, not to the checkout; so is --out.
const out = invocationPath(values.out);
/** The files this task writes into `out` itself, beside the benchmarks' folders. */
const PAGE = "report.html";
const RUN_RECORD = "reproduce.json";
const refs = (values.benchmark ?? [...BUILTIN_BENCHMARKS]).map((ref) =>
  (BUILTIN_BENCHMARKS as ReadonlyArray<string>).includes(ref) ? ref : invocationPath(ref)
);
/**
 * GROOD with the exact index (the default) and with HNSW, then the ablations and baselines;
 * with `--detector`, only those (GROOD is always run: the HNSW recall is measured on it).
 */
const chosen = values.detector;
const engine = values.engine === undefined ? {} : { engine: values.engine };
const detectors: ReadonlyArray<DetectorSpecInput> = [
  REPRODUCE_DETECTORS[0]!,
  { kind: "grood", index: { kind: "hnsw" }, name: "GROOD (HNSW)" } as const,
  ...REPRODUCE_DETECTORS.slice(1),
].filter((spec) => chosen === undefined || spec.kind === "grood" || chosen.includes(spec.kind));

/** Model kinds whose models have an input gradient (`FeatureModel.inputGradient`). */
const DIFFERENTIABLE_KINDS: ReadonlyArray<string> = ["grood", "tfjs-layers"];

/**
 * The detectors to run on a model of `kind`. A detector whose scores need each image and the
 * network's input gradient (ODIN; its registry entry's `scoresImages`) runs on the kinds that
 * have one (grood's own CNN, tfjs LayersModels): on another kind it is left out of the default
 * list, saying so. Named with `--detector`, it runs, and fails with a typed error naming it and
 * the model.
 */
function runnableOn(kind: string): ReadonlyArray<DetectorSpecInput> {
  if (DIFFERENTIABLE_KINDS.includes(kind) || chosen !== undefined) return detectors;
  const skipped = detectors.filter((d) => detectorEntry(d.kind).scoresImages !== undefined);
  for (const d of skipped) {
    console.log(
      `${detectorEntry(d.kind).title} left out: ${detectorEntry(d.kind).scoresImages}; ` +
        `this model is of kind "${kind}"`,
    );
  }
  return detectors.filter((d) => !skipped.includes(d));
}

const program = Effect.gen(function* () {
  const unknown = chosen?.find((kind) => !(DETECTOR_KINDS as ReadonlyArray<string>).includes(kind));
  if (unknown !== undefined) return yield* new UnknownDetector({ kind: unknown });
  const { backend } = yield* Compute;
  const cache = yield* StageCache;
  const started = performance.now();
  const log = (line: string) => console.log(line);
  const specs = [];
  for (const ref of refs) specs.push(yield* readBenchmark(ref));
  // The folders this run writes may be written (absent, empty or grood's; never an input, the
  // current folder or a folder of the user's) and can be: checked before any computation.
  const inputs = specs.flatMap(benchmarkInputs);
  const rootRules: OutputFolderOptions = {
    kind: "results",
    inputs,
    recognise: [RUN_RECORD],
  };
  yield* checkOutputFolder(out, rootRules);
  for (const [i, spec] of specs.entries()) {
    const other = specs.findIndex((s) => s.name === spec.name);
    if (other !== i) {
      return yield* new OutputFolderRefused({
        path: join(out, spec.name),
        reason: `benchmarks ${refs[other]} and ${refs[i]} are both named "${spec.name}" and ` +
          "would write this one folder",
      });
    }
    if (spec.name === PAGE || spec.name === RUN_RECORD) {
      return yield* new OutputFolderRefused({
        path: join(out, spec.name),
        reason: `benchmark ${refs[i]} is named "${spec.name}", as the file grood writes into ` +
          "the results folder beside the benchmarks' folders; give the benchmark another name",
      });
    }
    yield* checkOutputFolder(join(out, spec.name), benchmarkFolderRules(inputs));
  }
  yield* ensureWritable(out);
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
    // One scope a benchmark: its model (open for the early-feature exports) and everything
    // read for it are let go before the next benchmark starts.
    yield* Effect.scoped(Effect.gen(function* () {
      const name = spec.name;
      const benchmarkStart = performance.now();
      console.log(`\n== benchmark ${name} (backend ${backend}) ==`);
      const runnable = runnableOn(spec.model.kind);
      // The model stays open (scoped to the benchmark) only for the early-feature exports below:
      // otherwise its onnxruntime sessions (a worker and a memory arena each) are released now,
      // not kept through the further seeds' runs. `reproduce --benchmark mnist --no-cache`, run
      // side by side with the model kept open (two pairs): peak RSS 3.19 -> 2.49 and 3.08 -> 2.40
      // GB, wall time the same to 0.1 %, outputs the same but dates and timings (`attribution`
      // in bench/reproduce_memory.json).
      const pipelineSpec = { benchmark: refs[i]!, detectors: runnable, ...engine };
      const result = values["export-early"]
        ? yield* runPipelineScoped(pipelineSpec)
        : yield* runPipeline(pipelineSpec);
      const { prepared, runs } = result;
      const grood = runs.find((r) => r.detector === "GROOD")!;
      const recall = yield* hnswRecall(prepared, grood);
      log(
        `HNSW (M ${recall.params.M}, efConstruction ${recall.params.efConstruction}, efSearch ${recall.params.efSearch}) ` +
          `vs exact on ${recall.indexed} real training descriptors, ${recall.queries} queries: ` +
          `recall@1 ${recall.recallAt1.toFixed(4)}, recall@10 ${recall.recallAt10.toFixed(4)}`,
      );
      const dir = join(out, name);
      const seconds = (performance.now() - benchmarkStart) / 1000;
      console.log(`\n${name}: ranked by mean of near and far AUROC (%)\n`);
      console.log(summaryMarkdown(summaryTable(runs)));
      console.log(`\n${name}: GROOD per OOD set (%)\n`);
      console.log(perSetMarkdown(resultsTable(runs.filter((r) => r.detector === "GROOD"))));
      const testImages = new Map([
        ["id", prepared.idTest.images],
        ...prepared.oodTest.map((set) => [set.images.name, set.images] as const),
      ]);
      // Every further fixture seed of grood's own models (fixtures/models/<dataset>-seed<N>/):
      // the same detectors, and the spread over seeds with the paired differences. Looked for
      // again after each seed, so a fixture that lands while the run goes on is included.
      const train = spec.id.train;
      // Only a benchmark on a fixture model has fixture seeds (not one naming a model of its own).
      const dataset = spec.model.kind === "grood" && train.kind === "dataset" &&
          resolve(spec.baseDir, spec.model.path) === fixtureDir(train.name)
        ? train.name
        : undefined;
      // grood's models record their test accuracy; another model's is measured on the ID test set.
      const testAccuracy = prepared.model.metadata?.testAccuracy ?? prepared.idAccuracy;
      /** A seed's own outputs, written as it ends: afterwards its images and features may go. */
      const seedOutputs = (
        staging: BenchmarkStaging,
        seed: number,
        model: { readonly prepared: PreparedBenchmark; readonly runs: ReadonlyArray<DetectorRun> },
      ) =>
        Effect.gen(function* () {
          yield* staging.checkFinite(seed, model.runs);
          const ratios = seedActivationRatios(seed, model.prepared);
          if (values["no-export"]) return ratios;
          // Every seed's exports (seed 0 at the top, the others in seed<N>/), so an outside
          // check can cover each model as it covers the first.
          const exportDir = join(staging.folderOf(seed, seed === 0 ? "main" : "other"), "exports");
          // Early features need the open network: only seed 0's stays open, with --export-early.
          const early = values["export-early"] && seed === 0;
          const entries = yield* writeExports(exportDir, model.prepared, model.runs, {
            ...(early ? { earlyBoundary: model.prepared.model.earlyTap } : {}),
          });
          log(`exports (seed ${seed}): ${entries.length} .npy files (manifest.json)`);
          return ratios;
        });
      const ratios: Array<SeedRatios> = [];
      /**
       * A further seed's run and outputs; only its runs and ratios are returned. Its own generator
       * holds its prepared benchmark: a local of the seeds' loop kept the last seed's (images and
       * features) alive through the next seed's run (measured with a WeakRef).
       */
      const runSeed = (staging: BenchmarkStaging, dataset: string, seed: number) =>
        Effect.gen(function* () {
          const other = yield* runPipeline(
            { benchmark: refs[i]!, model: fixtureDir(dataset, seed), detectors, ...engine },
          );
          const seedRatios = yield* seedOutputs(staging, seed, other);
          const runs: Omit<SeedRuns, "header"> = {
            seed,
            runs: other.runs,
            model: portablePath(other.prepared.model.path),
            testAccuracy: other.prepared.model.metadata?.testAccuracy ?? other.prepared.idAccuracy,
          };
          return { ratios: seedRatios, runs };
        });

      // The benchmark's folder, every seed's included, is written as a unit: the further seeds run
      // while its temporary folder is open, each writing its own outputs into it as it ends, and
      // it takes the folder's place once all are done. A failure or an interruption leaves the
      // previous complete results, or none.
      yield* prepareOutputRoot(out, rootRules);
      const folder = yield* writeBenchmarkFolder(dir, name, (staging) =>
        Effect.gen(function* () {
          ratios.push(yield* seedOutputs(staging, 0, { prepared, runs }));
          const others: Array<Omit<SeedRuns, "header">> = [];
          while (dataset !== undefined) {
            const ran = [0, ...others.map((r) => r.seed)];
            const seed = (yield* fixtureSeeds(dataset)).find((s) => !ran.includes(s));
            if (seed === undefined) break;
            console.log(`\n== benchmark ${name}, model of training seed ${seed} ==`);
            const done = yield* runSeed(staging, dataset, seed);
            ratios.push(done.ratios);
            others.push(done.runs);
          }
          const date = new Date().toISOString();
          const main: SeedRuns = {
            seed: 0,
            runs,
            model: portablePath(prepared.model.path),
            testAccuracy,
            header: {
              benchmark: name,
              model: portablePath(prepared.model.path),
              modelTestAccuracy: testAccuracy,
              idTestImages: prepared.idTest.images.count,
              groodDefaults: GROOD_DEFAULTS,
              hnswRecall: recall,
              backend,
              seconds: Math.round(seconds),
              command,
              date,
            },
          };
          const seedRuns = others.map((other): SeedRuns => ({
            ...other,
            header: {
              benchmark: name,
              seed: other.seed,
              model: other.model,
              modelTestAccuracy: other.testAccuracy,
              idTestImages: prepared.idTest.images.count,
              backend,
              date,
            },
          }));
          return { main, others: seedRuns, date };
        }), {
        command,
        inputs,
        section: (seeds) =>
          benchmarkPage(runs, testImages, seeds === undefined ? {} : { seeds }).pipe(
            Effect.map(benchmarkSection),
          ),
        extra: (tmp) => writeActivationRatios(tmp, name, ratios),
      });
      if (folder.spread !== undefined && folder.paired !== undefined) {
        console.log(`\n${name}: mean ± sd over seeds ${folder.seeds.join(", ")} (%)\n`);
        console.log(seedSpreadMarkdown(folder.spread));
        console.log(`\n${name}: paired differences (AUROC points)\n`);
        console.log(pairedMarkdown(folder.paired));
      }
      const total = (performance.now() - benchmarkStart) / 1000;
      console.log(`\n${name} done in ${formatSeconds(total)}; results in ${dir}/`);
    }));
  }
  // The page gathers the latest section of every benchmark in the results folder: this run's
  // first, then any others (from earlier runs of other benchmarks), by name.
  const sections = yield* tryIo(
    out,
    "gather the results page's sections from",
    () => pageSections(out, names),
  );
  yield* writeFile(
    join(out, PAGE),
    reportHtml(
      `grood: ${sections.map((x) => x.benchmark).join(", ")} (backend ${backend})`,
      sections.map((x) => x.html),
    ),
  );
  log(`results page: ${join(out, PAGE)} (${sections.length} benchmarks)`);
  yield* writeJson(join(out, RUN_RECORD), {
    benchmarks: names,
    seconds: Math.round((performance.now() - started) / 1000),
    backend,
    date: new Date().toISOString(),
  });
  console.log(cacheSummary(cache.stats()));
  console.log(`\nreproduce finished in ${formatSeconds((performance.now() - started) / 1000)}`);
});

await runTask(
  Effect.provide(
    Effect.scoped(program),
    [StageCache.layer(values["no-cache"] ? undefined : DEFAULT_CACHE_DIR), terminalProgress()],
  ),
  values.backend,
  { threads: values.threads },
);
