/**
 * `grood bench`: the flags of `tasks/bench.ts` and the checks across them.
 *
 * @module
 */
import { FULL, QUICK, SECTIONS } from "../../../bench/harness/plan.ts";
import { flag } from "../flags.ts";
import { overwriteFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood bench`. */
export const benchTask = task("bench", {
  summary: "Measure fit, descriptor, k-NN, scoring and engine speed on mnist and the k-NN " +
    "scale table; write the figures to JSON files.",
  flags: {
    quick: flag.boolean("smoke run on small sizes (writes bench/results-quick.json)"),
    runs: flag.integer("timed runs per figure (default: 5, or 2 with --quick)", { min: 1 }),
    out: flag.string("results file (default: bench/results.json, or -<sections> with --only)", {
      placeholder: "FILE",
    }),
    overwrite: overwriteFlag,
    model: flag.string("model folder (default: the mnist fixture)", { placeholder: "DIR" }),
    only: flag.choices(SECTIONS, "sections to run (default: every one)"),
    sizes: flag.string("k-NN scaling sizes to run, by label, comma-separated (default: all)", {
      placeholder: "LABELS",
    }),
    "scale-sets": flag.string(
      "scale table sets to run, comma-separated, e.g. synthetic-1.28Mx512 (default: all)",
      { placeholder: "LABELS" },
    ),
    "scale-methods": flag.string(
      "scale table methods to run besides exact (its neighbours are the ground truth), " +
        "comma-separated, e.g. ivf (default: all)",
      { placeholder: "METHODS" },
    ),
  },
}, ({ values }) => {
  const base = values.quick ? QUICK : FULL;
  const sizes = values.sizes?.split(",").map((x) => x.trim());
  if (sizes !== undefined && !sizes.every((x) => base.scaling.some((s) => s.label === x))) {
    return `--sizes takes k-NN sizes from ${
      base.scaling.map((step) => step.label).join(", ")
    }; got "${values.sizes}"`;
  }
  const methods = values["scale-methods"]?.split(",").map((x) => x.trim());
  if (
    methods !== undefined && !methods.every((m) => base.scale.methods.some((e) => e.method === m))
  ) {
    return `--scale-methods takes methods from ${
      base.scale.methods.map((entry) => entry.method).join(", ")
    }; got "${values["scale-methods"]}"`;
  }
  return undefined;
});
