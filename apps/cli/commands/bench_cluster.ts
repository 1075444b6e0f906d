/**
 * `grood bench cluster`: the flags of `tasks/bench_cluster.ts`.
 *
 * @module
 */
import { BENCH_CLUSTER_DEFAULTS, MAX_BENCH_IMAGES, MIN_BENCH_IMAGES } from "../../cluster/bench.ts";
import { flag } from "../flags.ts";
import { task } from "../task.ts";

/** `grood bench cluster`. */
export const benchClusterTask = task("bench cluster", {
  summary: "Cluster scoring on this machine with 1, 2 and 3 runners, the coordination cost " +
    "and the failover pause; writes bench/cluster.json.",
  description: "Cluster scoring on this machine: one-process score as the baseline, 1, 2 and 3 " +
    "runners on loopback, the coordination cost per chunk, the failover pause after a runner " +
    "is killed, and how long a runner takes to leave on SIGTERM. Starts its own throwaway " +
    "PostgreSQL. Writes bench/cluster.json (see docs/scale.md).",
  flags: {
    images: flag.integer("MNIST images to score", {
      min: MIN_BENCH_IMAGES,
      max: MAX_BENCH_IMAGES,
      default: BENCH_CLUSTER_DEFAULTS.images,
    }),
    out: flag.string("where to write the results (default: the checkout's bench/cluster.json)", {
      placeholder: "FILE",
    }),
  },
});
