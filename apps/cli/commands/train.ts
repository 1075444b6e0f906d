/**
 * `grood train`: the flags of `tasks/train.ts` and the checks across them.
 *
 * @module
 */
import { datasets } from "../../../lib/data/mod.ts";
import { flag } from "../flags.ts";
import { backendFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood train`. */
export const trainTask = task(
  "train",
  {
    summary: "Train a classifier and save it (weights, architecture, metadata) to a folder.",
    flags: {
      out: flag.string("folder to save the model in (required unless --overwrite-fixture)", {
        placeholder: "DIR",
      }),
      "overwrite-fixture": flag.boolean(
        "save over the committed fixture fixtures/models/<dataset>",
      ),
      dataset: flag.choice(Object.keys(datasets), "ID dataset to train on", { default: "mnist" }),
      seed: flag.integer("random seed (weights, batch order)", { min: 0, default: 0 }),
      epochs: flag.integer("epochs (default: 3 for mnist, 6 for fashion-mnist)", { min: 1 }),
      "batch-size": flag.integer("images per step", { min: 1, max: 60_000, default: 128 }),
      lr: flag.number("Adam learning rate", { positive: true, default: 0.002 }),
      backend: backendFlag,
    },
  },
  ({ values }) =>
    values.out === undefined && !values["overwrite-fixture"]
      ? "say where to save the model: --out DIR (or --overwrite-fixture)"
      : values.out !== undefined && values["overwrite-fixture"]
      ? "--out and --overwrite-fixture exclude each other"
      : undefined,
);
