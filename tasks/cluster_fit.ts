/**
 * `grood cluster fit --model M --train SRC --job DIR --out DIR [--chunk N] …`: fit GROOD with
 * the cluster's runners mapping the chunks (`apps/cluster/fit_driver.ts`) and write the fitted
 * folder `grood fit` writes. Run it again with the same arguments to resume after it stopped.
 *
 * @module
 */
import { Effect } from "effect";
import { clusterFitTask } from "../apps/cli/commands/cluster_fit.ts";
import { fitDataSources } from "../apps/cli/commands/fit.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { failoverFromFlags } from "../apps/cluster/failover.ts";
import { runFitDriver } from "../apps/cluster/fit_driver.ts";
import { terminalProgress } from "../apps/cli/progress.ts";

const { values } = await taskInput(clusterFitTask);

const program = Effect.gen(function* () {
  const cwd = invocationPath(".");
  const { train, validation, validationOod } = yield* fitDataSources(values, cwd);
  const out = invocationPath(values.out);
  const manifest = yield* Effect.scoped(
    runFitDriver({
      fit: {
        model: invocationPath(values.model),
        taps: values.taps,
        train,
        ...(validation === undefined ? {} : { validation }),
        validationOod,
        detector: values.detector,
        out,
        seed: values.seed,
        fitChunk: values.chunk,
      },
      jobDir: invocationPath(values.job),
      pg: values.pg,
      inFlight: values["in-flight"],
      progressEvery: values.progress,
      chunkTimeout: values["chunk-timeout"],
      failover: failoverFromFlags(values),
    }, (line) => console.error(line)).pipe(Effect.provide(terminalProgress())),
  );
  console.log(
    `${manifest.detector.name} on ${manifest.model.source} → ${out} (digest ` +
      `${manifest.digest.slice(0, 12)})\n  threshold ${manifest.threshold.toPrecision(6)}; ID ` +
      `validation accuracy ${(100 * manifest.validation.accuracy).toFixed(2)}%`,
  );
});

await runTask(program, values.backend);
