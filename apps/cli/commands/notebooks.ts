/**
 * `grood notebooks`: the flags of `tasks/notebooks.ts`.
 *
 * @module
 */
import { flag } from "../flags.ts";
import { task } from "../task.ts";

/** `grood notebooks`. */
export const notebooksTask = task("notebooks", {
  summary: "Execute the notebooks headless with the Deno Jupyter kernel and check what they show.",
  positionals: {
    name: "name",
    min: 0,
    max: Infinity,
    description: "run only the notebooks whose file name contains one of the names",
  },
  flags: {
    dir: flag.string("notebooks folder (default: the checkout's notebooks)", {
      placeholder: "DIR",
    }),
    out: flag.string("folder for the executed copies (default: the checkout's results/notebooks)", {
      placeholder: "DIR",
    }),
    timeout: flag.integer("seconds per notebook", { min: 1, default: 900, placeholder: "S" }),
    "kernel-only": flag.boolean("only register the Deno kernel for this checkout, run nothing"),
  },
});
