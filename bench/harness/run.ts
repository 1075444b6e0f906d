/**
 * The bench as one Effect program: load the benchmark and the model, run the chosen sections
 * in order (the fit first, so its peak RSS is not inflated by the others; the workers and the
 * scale table last), and write every figure with its runs, the machine and the load to a
 * results file (atomically). `tasks/bench.ts` parses the command line and runs it.
 *
 * Timings mean something only on an otherwise idle machine: the load average is recorded at
 * every section, and a busy machine is flagged at the start.
 *
 * @module
 */
import { join } from "node:path";
import { createRequire } from "node:module";
import { Effect } from "effect";
import type * as tfType from "@tensorflow/tfjs";
import { Compute } from "../../mod.ts";
import { loadBenchmark } from "../../lib/benchmarks/mod.ts";
import { type LabelledSet, loadSplit } from "../../lib/data/mod.ts";
import { exists, portablePath, tryIo, writeJson } from "../../lib/io/mod.ts";
import { loadClassifier, type LoadedClassifier } from "../../lib/model/mod.ts";
import { groodFeatureModel } from "../../lib/models/mod.ts";
import { extractFeatures } from "../../lib/stages/mod.ts";
import { type Bench, firstImages } from "./context.ts";
import { descriptorsSection } from "./descriptors_section.ts";
import { enginesSection } from "./engines_section.ts";
import { fitMemorySection } from "./fit_memory_section.ts";
import { fitSection } from "./fit_section.ts";
import { knnSection, realQueries } from "./knn_section.ts";
import { busyCores, type LoadSample, loadSample, machineInfo } from "./machine.ts";
import { trackPeakMemory } from "./measure.ts";
import { saveUntrainedClassifier } from "./untrained_model.ts";
import { BENCHMARK, type Plan, type Section } from "./plan.ts";
import { type BenchResults, type Figure, formatFigure, formatValue, withLoad } from "./report.ts";
import { scaleSection } from "./scale_section.ts";
import { scoringSection } from "./scoring_section.ts";

/** The installed effect version (its package.json), for the results file. */
function effectVersion(): string {
  try {
    return (createRequire(import.meta.url)("effect/package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** A random-init classifier saved to a temp folder: the quick run's model without fixtures. */
const randomModel = Effect.fn("randomModel")(function* (tf: typeof tfType) {
  const dir = yield* tryIo(
    "grood-bench-model-*",
    "create a temporary folder",
    () => Deno.makeTempDir({ prefix: "grood-bench-model-" }),
  );
  yield* saveUntrainedClassifier(tf, dir);
  return dir;
});

/** What to run and where to write it. */
export interface BenchRun {
  readonly plan: Plan;
  readonly sections: ReadonlySet<Section>;
  /** The results file. */
  readonly out: string;
  /** The scale table's file (written by the scale section). */
  readonly scaleOut: string;
  readonly modelFolder: string;
}

/** Run the bench (see the module doc). */
export const runBench = ({ plan, sections, out, scaleOut, modelFolder }: BenchRun) =>
  Effect.gen(function* () {
    const { tf, backend } = yield* Compute;
    const benchStarted = performance.now();
    const figures: Array<Figure> = [];
    const details: Record<string, unknown> = {};
    const load: Array<LoadSample> = [loadSample("start")];
    const emit = (f: Figure) => {
      figures.push(withLoad(f, loadSample("figure").loadavg, navigator.hardwareConcurrency));
      console.log(formatFigure(f));
    };
    const section = (name: string) => {
      const sample = loadSample(name);
      load.push(sample);
      console.log(
        `\n## ${name}  (load average ${sample.loadavg.map((v) => v.toFixed(2)).join(" ")})`,
      );
    };

    const machine = machineInfo();
    console.log(
      `grood bench (${plan.mode}): ${machine.cpuModel}, ${machine.cores} cores, ` +
        `${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB; deno ${machine.deno}, ` +
        `tfjs ${tf.version.tfjs} on ${backend}; median of ${plan.runs} runs after ` +
        `${plan.warmup} warm-up`,
    );
    // Measured before anything heavy starts here, so whatever is busy is someone else.
    const othersBusy = yield* Effect.promise(() => busyCores(1000));
    console.log(
      `CPU used by other processes at the start: ${othersBusy.toFixed(2)} cores ` +
        `(load average ${load[0]!.loadavg.map((v) => v.toFixed(2)).join(" ")})`,
    );
    if (othersBusy > 0.25) {
      console.log(
        "warning: another job is running; timings will be slower and noisier than on an idle " +
          "machine",
      );
    }

    // ── data and model ──
    const memory = trackPeakMemory();
    const data = yield* loadBenchmark(BENCHMARK);
    const train: LabelledSet = plan.train === "all"
      ? data.train
      : firstImages(data.train, plan.train);
    const test = firstImages(yield* loadSplit(BENCHMARK, "test"), plan.test);
    const oodImages = data.oodTest.map((s) => firstImages(s.images, plan.oodPerSet));
    let modelDir = modelFolder;
    let modelKind = "fixture";
    let tempModel: string | undefined;
    if (!(yield* tryIo(modelFolder, "read", () => exists(join(modelFolder, "metadata.json"))))) {
      if (plan.mode === "full") {
        return yield* Effect.fail(
          new Error(
            `Cannot run the bench: no trained model in "${modelFolder}" (metadata.json is missing); ` +
              `train it with \`deno task train --dataset ${BENCHMARK} --out ${modelFolder}\`, or use --quick`,
          ),
        );
      }
      tempModel = yield* randomModel(tf);
      modelDir = tempModel;
      modelKind = "random-init (quick run, fixture missing)";
    }
    const model: LoadedClassifier = yield* loadClassifier(tf, modelDir);
    const net = model.net;
    console.log(
      `model ${modelDir} (${modelKind}); train ${train.count}, ID test ${test.count}, ` +
        `OOD queries ${oodImages.map((s) => `${s.name} ${s.count}`).join(", ")}`,
    );
    const bench: Bench = {
      tf,
      net,
      model: yield* groodFeatureModel(tf, net, modelDir),
      plan,
      timedRuns: { warmup: plan.warmup, runs: plan.runs },
      memory,
      emit,
      section,
      details,
    };
    // The in-memory fit feeds the sections that use its results; the bounded-memory fit runs
    // in child processes of its own and needs none of it.
    const needsFit = (
      ["fit", "descriptors", "knn", "scoring", "engines", "scale"] as const
    )
      .some((s) => sections.has(s));
    const fit = needsFit ? yield* fitSection(bench, train, sections.has("fit")) : undefined;
    let scaleInputs: Parameters<typeof scaleSection>[1] | undefined;
    if (fit !== undefined) {
      if (sections.has("descriptors")) yield* descriptorsSection(bench, fit, train);
      const testExtraction = yield* extractFeatures(bench.model, test, {
        batchSize: plan.batchSize,
      });
      const queries = sections.has("knn") || sections.has("scale")
        ? yield* realQueries(bench, fit, testExtraction, oodImages)
        : undefined;
      if (sections.has("knn")) yield* knnSection(bench, fit, queries!);
      if (sections.has("scoring")) {
        yield* scoringSection(bench, fit, { modelKey: model.key, train, test, testExtraction });
      }
      fit.index.dispose();
      if (sections.has("engines")) {
        yield* enginesSection(bench, { modelDir, test, tfjs: testExtraction });
      }
      if (sections.has("scale")) {
        scaleInputs = {
          train: fit.descriptors,
          classes: Uint8Array.from(fit.correctRows, (i) => train.labels[i]!),
          queries: queries!.queries,
        };
      }
    }
    if (sections.has("fit-memory")) yield* fitMemorySection(bench);
    if (scaleInputs !== undefined) yield* scaleSection(bench, scaleInputs, scaleOut);

    load.push(loadSample("end"));
    memory.stop();
    net.dispose();
    if (tempModel !== undefined) {
      yield* tryIo(tempModel, "remove", () => Deno.remove(tempModel!, { recursive: true }));
    }
    const benchSeconds = (performance.now() - benchStarted) / 1000;
    const results: BenchResults = {
      format: "grood-bench",
      version: 1,
      date: new Date().toISOString(),
      mode: plan.mode,
      benchmark: BENCHMARK,
      model: {
        path: portablePath(modelDir),
        weightsSha256: model.metadata.weightsSha256,
        kind: modelKind,
      },
      machine,
      versions: { deno: Deno.version.deno, tfjs: tf.version.tfjs, effect: effectVersion() },
      backend,
      plan: { ...plan },
      othersBusyCoresAtStart: othersBusy,
      load,
      figures,
      details,
      benchSeconds,
    };
    yield* writeJson(out, results);
    console.log(`\n## targets`);
    for (const f of figures) if (f.target !== null) console.log(formatFigure(f));
    const missed = figures.filter((f) => f.met === false).length;
    console.log(
      `\nbench ${plan.mode} done in ${formatValue(benchSeconds, "s")}: ` +
        `${figures.filter((f) => f.met === true).length} targets met, ${missed} not met; ` +
        `load average at the end ${load.at(-1)!.loadavg.map((v) => v.toFixed(2)).join(" ")}; ` +
        `wrote ${out}`,
    );
  });
