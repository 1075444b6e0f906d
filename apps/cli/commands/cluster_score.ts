/**
 * `grood cluster score`: the flags of `tasks/cluster_score.ts`.
 *
 * @module
 */
import { SOURCE_ARGUMENT_HELP } from "../../../lib/sources/mod.ts";
import { chunkProblem, DRIVER_DEFAULTS } from "../../cluster/options.ts";
import { flag } from "../flags.ts";
import { detectorFolderFlag, overwriteFlag } from "../shared_flags.ts";
import { task } from "../task.ts";
import { checkFailover, driverFlags } from "./cluster_flags.ts";

/** `grood cluster score`. */
export const clusterScoreTask = task("cluster score", {
  summary: "Score data on the grood cluster's runners; writes what `grood score` writes.",
  description:
    "Score data on the grood cluster's runners; writes what `grood score` writes. The runners " +
    "(`grood cluster runner`) score the chunks; the rows, their order and every score are " +
    "those of `grood score`, byte for byte. The job folder holds the plan and one part per " +
    "chunk; run the same command again to resume a stopped job. See docs/scale.md.",
  flags: {
    detector: detectorFolderFlag,
    job: flag.required(
      "the job folder (plan and one part per chunk), on storage every runner sees at the " +
        "same path; run again to resume",
      { placeholder: "DIR" },
    ),
    out: flag.string("write the rows here (.json: JSON, else CSV); default: CSV on stdout", {
      placeholder: "FILE",
    }),
    overwrite: overwriteFlag,
    chunk: flag.integer("images per chunk, a multiple of 512 (the model batch of score)", {
      min: 512,
      default: DRIVER_DEFAULTS.chunk,
    }),
    ...driverFlags,
  },
  positionals: {
    name: "SRC",
    min: 1,
    max: Infinity,
    description: `data to score: ${SOURCE_ARGUMENT_HELP}`,
  },
  examples: [{
    command: "./grood cluster score --detector /shared/my-detector --job /shared/jobs/batch-1 " +
      "--out /shared/scores.csv /shared/images/",
    description: "score a folder on the runners",
  }],
}, ({ values }) => chunkProblem(values.chunk) ?? checkFailover(values));
