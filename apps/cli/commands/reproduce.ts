/**
 * `grood reproduce`: the flags of `tasks/reproduce.ts`.
 *
 * @module
 */
import { BUILTIN_BENCHMARKS } from "../../../lib/benchmarks/mod.ts";
import { DETECTOR_KINDS } from "../../../lib/detectors/mod.ts";
import { ENGINES } from "../../../lib/pipeline/mod.ts";
import { flag } from "../flags.ts";
import { backendFlag, BULK_THREADS, noCacheFlag, threadsFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood reproduce`. */
export const reproduceTask = task("reproduce", {
  summary: "GROOD, its ablations and every baseline on the benchmarks with the fixture models: " +
    "tables, plots and .npy exports in <out>/<benchmark>/.",
  flags: {
    benchmark: flag.strings(
      `a built-in benchmark (${BUILTIN_BENCHMARKS.join(", ")}) or a benchmark file (default: ` +
        "the built-in ones)",
      { placeholder: "NAME|FILE" },
    ),
    retrain: flag.boolean("train the fixture models again first (writes fixtures/models/)"),
    "no-cache": noCacheFlag,
    "no-export": flag.boolean("skip the .npy exports"),
    "export-early": flag.boolean(
      "also export the test sets' early features of the seed-0 model (~250 MB each)",
    ),
    out: flag.string("results folder", { default: "results", placeholder: "DIR" }),
    backend: backendFlag,
    threads: threadsFlag(BULK_THREADS),
    engine: flag.choice(
      ENGINES,
      "engine of the feature pass (default: onnx for grood's CNN and ONNX models, tfjs for tfjs)",
    ),
    detector: flag.choices(DETECTOR_KINDS, "detectors to run (default: every one; GROOD always)"),
  },
});
