/**
 * `grood data`: the flags of `tasks/data.ts`.
 *
 * @module
 */
import { OOD_SET_NAMES } from "../../../lib/data/mod.ts";
import { flag } from "../flags.ts";
import { task } from "../task.ts";

/** `grood data`. */
export const dataTask = task("data", {
  summary: "Build the offline OOD sets into .data/ood/ (idempotent: a second run only hashes).",
  flags: {
    only: flag.choices(OOD_SET_NAMES, "sets to build (default: every one)"),
    "update-manifests": flag.boolean("record the built sets' hashes in fixtures/ood/<set>.json"),
    quiet: flag.boolean("print only the sets that are built"),
  },
});
