/**
 * `grood bench cluster`: the flags of `tasks/bench_cluster.ts`.
 *
 * @module
 */
import { BENCH_CLUSTER_DEFAULTS, MAX_BENCH_IMAGES, MIN_BENCH_IMAGES } from "../../cluster/bench.ts";
import { FIT_CHUNK } from "../../../lib/detectors/mod.ts";
import { flag } from "../flags.ts";
import { overwriteFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood bench cluster`. */
export const benchClusterTask = task("bench cluster", {
  summary: "Cluster scoring on this machine with 1, 2 and 3 runners, the coordination cost " +
    "and the failover pause; writes bench/cluster.json.",
  description: "Cluster scoring on this machine with 1, 2 and 3 runners, the coordination cost " +
    "and the failover pause; writes bench/cluster.json. One-process score is the baseline; the " +
    "runners run on loopback; the coordination cost is per chunk; the failover pause follows " +
    "a runner killed with SIGKILL; it also times how long a runner takes to leave on SIGTERM. " +
    "Starts its own throwaway PostgreSQL. See docs/scale.md.",
  flags: {
    images: flag.integer("MNIST images to score", {
      min: MIN_BENCH_IMAGES,
      max: MAX_BENCH_IMAGES,
      default: BENCH_CLUSTER_DEFAULTS.images,
    }),
    out: flag.string("where to write the results (default: the checkout's bench/cluster.json)", {
      placeholder: "FILE",
    }),
    overwrite: overwriteFlag,
    fit: flag.boolean(
      "time GROOD's fit instead (grood fit, then grood cluster fit on 1 and 3 runners, on " +
        "--images MNIST training images in chunks of --chunk) and add it to the results as `fit`",
    ),
    chunk: flag.integer("images per fit chunk (with --fit)", { min: 1, default: FIT_CHUNK }),
  },
});
