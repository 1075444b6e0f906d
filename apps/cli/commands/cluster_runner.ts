/**
 * `grood cluster runner`: the flags of `tasks/cluster_runner.ts`.
 *
 * @module
 */
import { RUNNER_DEFAULTS } from "../../cluster/options.ts";
import { flag } from "../flags.ts";
import { task } from "../task.ts";
import { checkFailover, failoverFlags, pgFlag } from "./cluster_flags.ts";

/** `grood cluster runner`. */
export const clusterRunnerTask = task("cluster runner", {
  summary: "Join the grood cluster (PostgreSQL): score chunks, and map distributed fits' chunks.",
  description:
    "Join the grood cluster (PostgreSQL): score chunks, and map distributed fits' chunks. " +
    "Scoring needs a fitted detector folder (--detector); a runner without one maps the chunks " +
    "of distributed fits (`grood cluster fit`) only. Each worker " +
    "opens the folder once, and a fit job's model and training data once. SIGTERM or Ctrl-C leaves the cluster " +
    "cleanly: the runner's shards move to the others. Under a process manager start it by " +
    "the path of the checkout's `grood` launcher, which execs the real Deno binary so the " +
    "manager's SIGTERM reaches the runner (`deno task` and npm's deno wrapper do not pass it " +
    "on). See docs/scale.md.",
  flags: {
    detector: flag.string(
      "the fitted detector folder to score with (written by `grood fit`); without it the " +
        "runner maps the chunks of distributed fits (`grood cluster fit`) only",
      { placeholder: "DIR" },
    ),
    pg: pgFlag,
    host: flag.string(
      "the address other runners and drivers reach this runner at (127.0.0.1: one machine)",
      { default: RUNNER_DEFAULTS.host, placeholder: "HOST" },
    ),
    port: flag.integer("the runner's TCP port", {
      min: 1,
      max: 65535,
      default: RUNNER_DEFAULTS.port,
      placeholder: "PORT",
    }),
    listen: flag.string("the address to listen on (default: --host; 0.0.0.0: all)", {
      placeholder: "HOST",
    }),
    concurrency: flag.integer("scoring workers: chunks scored at once", {
      min: 1,
      default: RUNNER_DEFAULTS.concurrency,
    }),
    ...failoverFlags,
  },
  examples: [
    {
      command: "export GROOD_CLUSTER_PG=postgres://grood:secret@db.example/grood",
      description: "the cluster's PostgreSQL",
    },
    {
      command: "./grood cluster runner --detector /shared/my-detector --host HOST --listen 0.0.0.0",
      description: "a runner other machines reach at HOST",
    },
  ],
}, ({ values }) => checkFailover(values));
