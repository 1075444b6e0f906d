/**
 * `grood bench serve`: the flags of `tasks/bench_serve.ts`.
 *
 * @module
 */
import { flag } from "../flags.ts";
import { backendFlag, overwriteFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood bench serve`. */
export const benchServeTask = task("bench serve", {
  summary: "Throughput, latency, memory and overload behaviour of the scoring service; writes " +
    "bench/serve.json with every target of issue 25 met or not.",
  flags: {
    detector: flag.string(
      "a fitted detector folder (`grood fit`); default: GROOD fitted here on 3,000 MNIST images",
      { placeholder: "DIR" },
    ),
    seconds: flag.integer("seconds of load per level (1, 16, 64 connections, overload)", {
      min: 1,
      default: 20,
    }),
    requests: flag.integer("requests of the memory run (at 64 connections)", {
      min: 1000,
      default: 100_000,
    }),
    out: flag.string("where to write the results (default: the checkout's bench/serve.json)"),
    overwrite: overwriteFlag,
    "replicas-report": flag.string(
      "the replica measurement the replica targets are read from (written by " +
        "`GROOD_WRITE_BENCH=1 deno test -A tests/serve_replicas_test.ts`)",
      { default: "bench/serve_replicas.json" },
    ),
    backend: backendFlag,
  },
});
