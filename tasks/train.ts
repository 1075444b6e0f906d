/**
 * `deno task train --out DIR [--dataset mnist] [--seed 0] [--epochs N] [--batch-size 128]
 * [--lr 0.002]`: train a classifier deterministically (same seed, same weights on the same
 * backend), report progress, evaluate it on the test split and save it with its metadata.
 * The committed fixtures under `fixtures/models/` were made with this task; writing over one
 * takes `--overwrite-fixture` instead of `--out`.
 *
 * @module
 */
import {
  backendFlag,
  flag,
  invocationPath,
  parseCommandLine,
  runTask,
  usageError,
} from "../lib/cli/command_line.ts";
import { datasets } from "../lib/data/datasets.ts";
import { fixtureDir } from "../lib/model/fixture.ts";
import { trainFixture } from "../lib/pipeline/train_fixture.ts";

const cli = {
  command: "deno task train",
  summary: "Train a classifier and save it (weights, architecture, metadata) to a folder.",
  flags: {
    out: flag.string("folder to save the model in (required unless --overwrite-fixture)", {
      placeholder: "DIR",
    }),
    "overwrite-fixture": flag.boolean("save over the committed fixture fixtures/models/<dataset>"),
    dataset: flag.choice(Object.keys(datasets), "ID dataset to train on", { default: "mnist" }),
    seed: flag.integer("random seed (weights, batch order)", { min: 0, default: 0 }),
    epochs: flag.integer("epochs (default: 3 for mnist, 6 for fashion-mnist)", { min: 1 }),
    "batch-size": flag.integer("images per step", { min: 1, max: 60_000, default: 128 }),
    lr: flag.number("Adam learning rate", { positive: true, default: 0.002 }),
    backend: backendFlag,
  },
};

const { values } = parseCommandLine(cli);
if (values.out === undefined && !values["overwrite-fixture"]) {
  usageError(cli, "say where to save the model: --out DIR (or --overwrite-fixture)");
}
if (values.out !== undefined && values["overwrite-fixture"]) {
  usageError(cli, "--out and --overwrite-fixture exclude each other");
}

await runTask(
  trainFixture({
    dataset: values.dataset,
    seed: values.seed,
    ...(values.epochs === undefined ? {} : { epochs: values.epochs }),
    batchSize: values["batch-size"],
    learningRate: values.lr,
    // Relative to where the command was typed (deno task runs in the checkout).
    out: values.out === undefined ? fixtureDir(values.dataset) : invocationPath(values.out),
  }),
  values.backend,
);
