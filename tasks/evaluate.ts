/**
 * `deno task evaluate [--dataset mnist] [--model DIR]`: measure a saved classifier's accuracy
 * on the full test split and compare it with the accuracy its metadata records (the fixtures'
 * figures are reproduced this way). Exits non-zero when they differ by more than 0.05 points.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { evaluateTask } from "../apps/cli/commands/evaluate.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { Compute } from "../mod.ts";
import { loadSplit } from "../lib/data/mod.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { loadClassifier } from "../lib/model/mod.ts";
import { groodFeatureModel, predictClasses } from "../lib/models/mod.ts";
import { accuracy } from "../lib/stages/mod.ts";

const { values } = await taskInput(evaluateTask);

/** The measured accuracy disagrees with the recorded one. */
class AccuracyMismatch extends Data.TaggedError("AccuracyMismatch")<{
  readonly model: string;
  readonly recorded: number;
  readonly measured: number;
}> {
  override get message(): string {
    return `Model "${this.model}" records ${(100 * this.recorded).toFixed(2)}% test accuracy ` +
      `but scores ${(100 * this.measured).toFixed(2)}%`;
  }
}

const program = Effect.gen(function* () {
  const { tf, backend } = yield* Compute;
  for (const dataset of values.dataset ?? ["mnist", "fashion-mnist"]) {
    // Relative to where the command was typed (deno task runs in the checkout).
    const dir = values.model === undefined ? fixtureDir(dataset) : invocationPath(values.model);
    // The classifier's weights are released however the measurement ends.
    const { measured, metadata } = yield* Effect.scoped(Effect.gen(function* () {
      const { net, metadata } = yield* Effect.acquireRelease(
        loadClassifier(tf, dir),
        ({ net }) => Effect.sync(() => net.dispose()),
      );
      const test = yield* loadSplit(metadata.dataset, "test");
      const predicted = yield* predictClasses(yield* groodFeatureModel(tf, net, dir), test);
      const measured = yield* accuracy(predicted, test.labels);
      return { measured, metadata };
    }));
    console.log(
      `${dir}: ${metadata.dataset} test accuracy ${(100 * measured).toFixed(2)}% on ${backend} ` +
        `(recorded ${(100 * metadata.testAccuracy).toFixed(2)}% on ${metadata.backend})`,
    );
    if (Math.abs(measured - metadata.testAccuracy) > 0.0005) {
      return yield* new AccuracyMismatch({ model: dir, recorded: metadata.testAccuracy, measured });
    }
  }
});

await runTask(program, values.backend);
