/**
 * `deno task bench [--quick] [--runs N] [--out FILE] [--model DIR]`: the performance harness
 * of issue 7. On the `mnist` benchmark with its fixture model (`fixtures/models/mnist`), it
 * measures and prints one line per figure (with its target and met / not met where there is
 * one), and writes every figure with its runs, the machine and the load to `bench/results.json`
 * (atomically):
 *
 * 1. fit time per stage on the 60,000 training images (features + prototypes, mix-up,
 *    descriptors, exact index), their total, and peak RSS;
 * 2. descriptor throughput: closed form vs per-sample autograd (on a subset, as a rate) vs
 *    batched autograd, on the real training penultimate features;
 * 3. k-NN: exact and HNSW build and query time on the real descriptors, HNSW recall@1/@10
 *    against exact, and how query time grows with the index (10k, 60k, 600k by tiling the
 *    real descriptors with seeded noise); the exact search also without norm pruning (the
 *    speed-up, and a check that both give the same bits: the bench stops if not);
 * 4. scoring throughput of GROOD end to end (forward + descriptor + 1-NN) vs MSP (forward +
 *    softmax) on the same 10,000 ID test images and batch size, on tfjs wasm and on
 *    onnxruntime, with the exact and the HNSW index, against issue 13's targets, with the HNSW
 *    recall@1 and a breakdown of GROOD's time (the product paths' own figures, `fit` and
 *    `score` as a user runs them, are `bench/product_paths.ts`);
 * 5. engines (issue 13): the feature pass on tfjs wasm, on onnxruntime alone and through the
 *    pipeline's ONNX engine, side by side (target: the pipeline ≥ 0.9× onnxruntime alone);
 * 6. the bounded-memory fit (`fit-memory`): GROOD's streamed fit on 60k and 600k synthetic
 *    images, each in its own process, peak RSS against the index's growth;
 * 7. the k-NN scale table (issue 13): exact, HNSW (hnswlib) and IVF at
 *    60k, 600k and 1.28M descriptors × D = 64 and 512 (synthetic, matched to the real
 *    descriptors' statistics) and on the real ones; each configuration in its own process;
 *    written to `bench/scale.json` (`bench/scale-quick.json` with `--quick`). The longest
 *    section by far (about an hour on two cores).
 *
 * Every timed figure is the median of `--runs` runs (default 5) after one untimed warm-up
 * run. `--quick` is a smoke run on small sizes (2 runs by default, a seeded random-init model
 * when the fixture is missing, results to `bench/results-quick.json`). The sections live in
 * `bench/harness/` (`run.ts` runs them); this file reads the command line.
 *
 * @module
 */
import { Effect } from "effect";
import { benchTask } from "../apps/cli/commands/bench.ts";
import { invocationPath, resultsFile, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import {
  BENCHMARK,
  FULL,
  type Plan,
  QUICK,
  type Section,
  SECTIONS,
} from "../bench/harness/plan.ts";
import { runBench } from "../bench/harness/run.ts";

const { values } = await taskInput(benchTask);
const only = values.only;
const sections = new Set<Section>(only ?? SECTIONS);
const base = values.quick ? QUICK : FULL;
const runs = values.runs ?? (values.quick ? 2 : 5);
const sizes = values.sizes?.split(",").map((x) => x.trim());
const scaleSets = values["scale-sets"]?.split(",").map((x) => x.trim());
const scaleMethods = values["scale-methods"]?.split(",").map((x) => x.trim());
const plan: Plan = {
  ...base,
  runs,
  scaling: base.scaling.filter((step) => sizes === undefined || sizes.includes(step.label)),
  scale: {
    ...base.scale,
    ...(scaleSets === undefined ? {} : { sets: scaleSets }),
    methods: base.scale.methods.filter((entry) =>
      scaleMethods === undefined || entry.method === "exact" || scaleMethods.includes(entry.method)
    ),
  },
};
const partial = only === undefined ? "" : `-${[...sections].join("-")}`;
const modelFolder = values.model !== undefined
  ? invocationPath(values.model)
  : fixtureDir(BENCHMARK);

// A path given is relative to where the command was typed; the defaults are the checkout's.
// Both files are checked before anything runs (an existing one given needs --overwrite).
const program = Effect.gen(function* () {
  const rules = { overwrite: values.overwrite, inputs: [modelFolder] };
  const out = yield* resultsFile(
    values.out,
    values.quick ? `bench/results-quick${partial}.json` : `bench/results${partial}.json`,
    rules,
  );
  // The scale table's own file (written by the scale section only): next to --out when given,
  // else bench/scale(-quick).json.
  const scaleOut = sections.has("scale")
    ? yield* resultsFile(
      values.out?.replace(/(\.json)?$/, "-scale.json"),
      values.quick ? "bench/scale-quick.json" : "bench/scale.json",
      rules,
    )
    : "";
  return yield* runBench({ plan, sections, out, scaleOut, modelFolder });
});

await runTask(program, "wasm");
