/**
 * Every task of the `grood` command, in the order `grood --help` lists them.
 *
 * @module
 */
import { ablateTask } from "./ablate.ts";
import { benchTask } from "./bench.ts";
import { benchClusterTask } from "./bench_cluster.ts";
import { benchServeTask } from "./bench_serve.ts";
import { cacheClearTask } from "./cache_clear.ts";
import { clusterFitTask } from "./cluster_fit.ts";
import { clusterRunnerTask } from "./cluster_runner.ts";
import { clusterScoreTask } from "./cluster_score.ts";
import { dataTask } from "./data.ts";
import { enginesTask } from "./engines.ts";
import { evaluateTask } from "./evaluate.ts";
import { evaluateOodTask } from "./evaluate_ood.ts";
import { exportOnnxTask } from "./export_onnx.ts";
import { fitTask } from "./fit.ts";
import { inspectTask } from "./inspect.ts";
import { notebooksTask } from "./notebooks.ts";
import { reproduceTask } from "./reproduce.ts";
import { scoreTask } from "./score.ts";
import { serveTask } from "./serve.ts";
import { trainTask } from "./train.ts";

export {
  ablateTask,
  benchClusterTask,
  benchServeTask,
  benchTask,
  cacheClearTask,
  clusterFitTask,
  clusterRunnerTask,
  clusterScoreTask,
  dataTask,
  enginesTask,
  evaluateOodTask,
  evaluateTask,
  exportOnnxTask,
  fitTask,
  inspectTask,
  notebooksTask,
  reproduceTask,
  scoreTask,
  serveTask,
  trainTask,
};

/**
 * Every task, the product's first (fit, score, serve, the cluster), then the benchmark's, then
 * tooling.
 */
export const TASKS = [
  inspectTask,
  fitTask,
  scoreTask,
  evaluateOodTask,
  serveTask,
  clusterRunnerTask,
  clusterScoreTask,
  clusterFitTask,
  exportOnnxTask,
  reproduceTask,
  ablateTask,
  trainTask,
  evaluateTask,
  dataTask,
  cacheClearTask,
  enginesTask,
  benchTask,
  benchServeTask,
  benchClusterTask,
  notebooksTask,
] as const;

/** The path of every task (`"score"`, `"bench serve"`, …). */
export type TaskPath = typeof TASKS[number]["path"];
