/**
 * `grood evaluate-ood`: the flags of `tasks/evaluate_ood.ts`.
 *
 * @module
 */
import { SOURCE_ARGUMENT_HELP } from "../../../lib/sources/mod.ts";
import { flag } from "../flags.ts";
import { detectorFolderFlag, SCORING_THREADS, threadsFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood evaluate-ood`. */
export const evaluateOodTask = task("evaluate-ood", {
  summary: "Evaluate a fitted detector folder: AUROC, AUPR and FPR@95 per OOD source.",
  flags: {
    detector: detectorFolderFlag,
    threads: threadsFlag(SCORING_THREADS),
    id: flag.required(`ID test data: ${SOURCE_ARGUMENT_HELP}`, { placeholder: "SRC" }),
    ood: flag.someStrings("OOD test data", { placeholder: "SRC" }),
    json: flag.boolean("print the results as JSON"),
  },
});
