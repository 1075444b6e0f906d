/**
 * `grood`: the one command of the toolkit (`./grood …` at the checkout's root, `npx grood …`,
 * `deno task <name> …`). Decodes the command line with `effect/cli` (`app.ts`), then
 * loads the chosen task's module from `tasks/`, which reads its decoded input and runs. Loading a
 * task only once it is chosen keeps `grood --help` from starting tfjs, onnxruntime or a server.
 *
 * @module
 */
// First: it records the processes that started this one (see parent.ts).
import "./parent.ts";
import { Effect } from "effect";
import denoJson from "../../deno.json" with { type: "json" };
import { runGrood } from "./app.ts";
import { type TaskPath, TASKS } from "./commands/mod.ts";
import { argsAfterPath, provideTaskInput } from "./task_input.ts";

/** The module of every task; a task missing here does not type-check. */
const MODULES: Readonly<Record<TaskPath, () => Promise<unknown>>> = {
  inspect: () => import("../../tasks/inspect.ts"),
  fit: () => import("../../tasks/fit.ts"),
  score: () => import("../../tasks/score.ts"),
  "evaluate-ood": () => import("../../tasks/evaluate_ood.ts"),
  serve: () => import("../../tasks/serve.ts"),
  "cluster runner": () => import("../../tasks/cluster_runner.ts"),
  "cluster score": () => import("../../tasks/cluster_score.ts"),
  "cluster fit": () => import("../../tasks/cluster_fit.ts"),
  "export-onnx": () => import("../../tasks/export_onnx.ts"),
  reproduce: () => import("../../tasks/reproduce.ts"),
  ablate: () => import("../../tasks/ablate.ts"),
  train: () => import("../../tasks/train.ts"),
  evaluate: () => import("../../tasks/evaluate.ts"),
  data: () => import("../../tasks/data.ts"),
  "cache clear": () => import("../../tasks/cache_clear.ts"),
  engines: () => import("../../tasks/engines.ts"),
  bench: () => import("../../tasks/bench.ts"),
  "bench serve": () => import("../../tasks/bench_serve.ts"),
  "bench cluster": () => import("../../tasks/bench_cluster.ts"),
  notebooks: () => import("../../tasks/notebooks.ts"),
};

const code = await runGrood(Deno.args, {
  tasks: TASKS,
  version: denoJson.version,
  runner: {
    run: (path, input) =>
      Effect.promise(async () => {
        provideTaskInput(path, input, argsAfterPath(Deno.args, path));
        await MODULES[path as TaskPath]();
      }),
  },
});
if (code !== 0) Deno.exit(code);
