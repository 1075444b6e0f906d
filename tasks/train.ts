/**
 * `deno task train --dataset mnist --seed 0 [--epochs N] [--out DIR]`: train a classifier
 * deterministically (same seed, same weights on the same backend), report progress, evaluate
 * it on the test split and save it with its metadata. The committed fixtures under
 * `fixtures/models/` were made with this task.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runTask } from "../lib/cli.ts";
import { trainFixture } from "../lib/model/fixture.ts";

const { values } = parseArgs({
  options: {
    dataset: { type: "string", default: "mnist" },
    seed: { type: "string", default: "0" },
    epochs: { type: "string" },
    "batch-size": { type: "string", default: "128" },
    lr: { type: "string", default: "0.002" },
    out: { type: "string" },
    backend: { type: "string" },
  },
});

await runTask(
  trainFixture({
    dataset: values.dataset,
    seed: Number(values.seed),
    ...(values.epochs === undefined ? {} : { epochs: Number(values.epochs) }),
    batchSize: Number(values["batch-size"]),
    learningRate: Number(values.lr),
    ...(values.out === undefined ? {} : { out: values.out }),
  }),
  values.backend,
);
