/**
 * `grood engines`: the flags of `tasks/engines.ts`.
 *
 * @module
 */
import { flag } from "../flags.ts";
import { overwriteFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood engines`. */
export const enginesTask = task("engines", {
  summary: "Compare tfjs (wasm) and onnxruntime on the mnist benchmark: agreement of the " +
    "features, GROOD's AUROCs on each, feature throughput.",
  flags: {
    model: flag.string("grood model folder (default: the mnist fixture)", { placeholder: "DIR" }),
    batch: flag.integer("images per forward pass", { min: 1, max: 60_000, default: 500 }),
    runs: flag.integer("throughput runs (the best counts)", { min: 1, default: 3 }),
    "skip-grood": flag.boolean("skip fitting and scoring GROOD on each engine"),
    out: flag.string("where to write the results (default: the checkout's results/engines.json)", {
      placeholder: "FILE",
    }),
    overwrite: overwriteFlag,
  },
});
