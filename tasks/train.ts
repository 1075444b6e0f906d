/**
 * `deno task train --out DIR [--dataset mnist] [--seed 0] [--epochs N] [--batch-size 128]
 * [--lr 0.002]`: train a classifier deterministically (same seed, same weights on the same
 * backend), report progress, evaluate it on the test split and save it with its metadata.
 * The committed fixtures under `fixtures/models/` were made with this task; writing over one
 * takes `--overwrite-fixture` instead of `--out`.
 *
 * @module
 */
import { trainTask } from "../apps/cli/commands/train.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { trainFixture } from "../apps/results/train_fixture.ts";

const { values } = await taskInput(trainTask);

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
