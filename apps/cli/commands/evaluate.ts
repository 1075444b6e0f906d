/**
 * `grood evaluate`: the flags of `tasks/evaluate.ts`.
 *
 * @module
 */
import { datasets } from "../../../lib/data/mod.ts";
import { flag } from "../flags.ts";
import { backendFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood evaluate`. */
export const evaluateTask = task("evaluate", {
  summary: "Measure saved classifiers' test accuracy and compare it with their metadata " +
    "(exit 1 if they differ by more than 0.05 points).",
  flags: {
    dataset: flag.choices(Object.keys(datasets), "dataset (default: every one)"),
    model: flag.string("model folder (default: the dataset's fixture)", { placeholder: "DIR" }),
    backend: backendFlag,
  },
});
