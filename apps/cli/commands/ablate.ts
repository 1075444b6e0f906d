/**
 * `grood ablate <spec.json>`: the flags of `tasks/ablate.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { ENGINES, MAX_GRID_VARIANTS } from "../../../lib/pipeline/mod.ts";
import { flag } from "../flags.ts";
import { backendFlag, BULK_THREADS, noCacheFlag, threadsFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood ablate`. */
export const ablateTask = task("ablate", {
  summary: "Run every variant of an ablation spec (GROOD parameters as lists) on one benchmark " +
    "and write a table with a column per parameter.",
  positionals: {
    name: "spec.json",
    min: 1,
    max: 1,
    description: "the spec: see ablations/paper.json (the paper's grid)",
  },
  flags: {
    out: flag.string("results folder", {
      default: join("results", "ablations"),
      placeholder: "DIR",
    }),
    "no-cache": noCacheFlag,
    "allow-large-grid": flag.boolean(
      `run a grid of more than ${MAX_GRID_VARIANTS.toLocaleString("en")} variants`,
    ),
    backend: backendFlag,
    threads: threadsFlag(BULK_THREADS),
    engine: flag.choice(
      ENGINES,
      "engine of the feature pass (default: the spec's, else onnx; tfjs for a tfjs model)",
    ),
  },
  examples: [{ command: "grood ablate ablations/paper.json", description: "the paper's grid" }],
});
