/**
 * `grood score`: the flags of `tasks/score.ts`.
 *
 * @module
 */
import { SOURCE_ARGUMENT_HELP } from "../../../lib/sources/mod.ts";
import { flag } from "../flags.ts";
import {
  detectorFolderFlag,
  overwriteFlag,
  SCORING_THREADS,
  threadsFlag,
} from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood score`. */
export const scoreTask = task("score", {
  summary: "Score images with a fitted detector folder: score, OOD flag, predicted class.",
  flags: {
    detector: detectorFolderFlag,
    threads: threadsFlag(SCORING_THREADS),
    out: flag.string("write the rows here (.json: JSON, else CSV); default: CSV on stdout", {
      placeholder: "FILE",
    }),
    overwrite: overwriteFlag,
  },
  positionals: {
    name: "SRC",
    min: 1,
    max: Infinity,
    description: `data to score: ${SOURCE_ARGUMENT_HELP}`,
  },
});
