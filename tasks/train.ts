/**
 * `deno task train --out DIR [--dataset mnist] [--seed 0] [--epochs N] [--batch-size 128]
 * [--lr 0.002]`: train a classifier deterministically (same seed, same weights on the same
 * backend), report progress, evaluate it on the test split and save it with its metadata.
 * The committed fixtures under `fixtures/models/` were made with this task; writing over one
 * takes `--overwrite-fixture` instead of `--out`.
 *
 * @module
 */
import { Effect } from "effect";
import { dirname } from "node:path";
import { trainTask } from "../apps/cli/commands/train.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { trainFixture } from "../apps/results/train_fixture.ts";
import { isWithin, OutputFolderRefused, realPathSoFar } from "../lib/io/mod.ts";

const { values } = await taskInput(trainTask);

// Relative to where the command was typed (deno task runs in the checkout).
const out = values.out === undefined ? fixtureDir(values.dataset) : invocationPath(values.out);
/** The committed fixture models (`fixtures/models/`): replaced only with --overwrite-fixture. */
const fixtures = dirname(fixtureDir(values.dataset));

// `--out fixtures/models/fashion-mnist` saved over a committed fixture (one grood saved: the
// output-folder rules let it) without --overwrite-fixture, even one of another dataset.
const program = Effect.gen(function* () {
  const real = yield* Effect.promise(() => realPathSoFar(out));
  if (
    values.out !== undefined && isWithin(yield* Effect.promise(() => realPathSoFar(fixtures)), real)
  ) {
    return yield* new OutputFolderRefused({
      path: out,
      reason: `it is, or lies in, the committed fixture models (${fixtures}); replace a ` +
        "fixture with --overwrite-fixture --dataset NAME, or give another folder",
    });
  }
  return yield* trainFixture({
    dataset: values.dataset,
    seed: values.seed,
    ...(values.epochs === undefined ? {} : { epochs: values.epochs }),
    batchSize: values["batch-size"],
    learningRate: values.lr,
    out,
  });
});

await runTask(program, values.backend);
