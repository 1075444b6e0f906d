/**
 * `grood bench serve`: the flags of `tasks/bench_serve.ts`.
 *
 * @module
 */
import { flag } from "../flags.ts";
import { backendFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood bench serve`. */
export const benchServeTask = task("bench serve", {
  summary: "Throughput, latency and memory of the scoring service under load; writes " +
    "bench/serve.json.",
  flags: {
    detector: flag.string(
      "a fitted detector folder (`grood fit`); default: GROOD fitted here on 3,000 MNIST images",
      { placeholder: "DIR" },
    ),
    seconds: flag.integer("seconds of load per concurrency level", { min: 1, default: 20 }),
    requests: flag.integer("requests of the memory run (at 64 connections)", {
      min: 1000,
      default: 100_000,
    }),
    out: flag.string("where to write the results", { default: "bench/serve.json" }),
    backend: backendFlag,
  },
});
