/**
 * `grood serve`: the flags of `tasks/serve.ts` (and, with `--replicas N`, of
 * `tasks/serve_replicas.ts`).
 *
 * @module
 */
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_LIMITS,
  DEFAULT_MICRO_BATCH,
  DEFAULT_OOD_WINDOW_SECONDS,
  DEFAULT_TIMEOUTS,
  MAX_REPLICAS,
} from "../../serve/mod.ts";
import { flag } from "../flags.ts";
import { backendFlag, detectorFolderFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood serve`. */
export const serveTask = task("serve", {
  summary: "Serve a fitted detector over HTTP: scoring API, metrics and a web page.",
  description: "Serve a fitted detector over HTTP: scoring API, metrics and a web page. " +
    "Logs: JSON lines on stderr (pretty in a terminal); routes, metrics and flags: docs/serve.md.",
  flags: {
    detector: detectorFolderFlag,
    host: flag.string("address to listen on", { default: "127.0.0.1", placeholder: "H" }),
    port: flag.integer("port to listen on (0: any free port)", {
      min: 0,
      max: 65535,
      default: 8080,
      placeholder: "P",
    }),
    "token-file": flag.string(
      "file holding a bearer token; when given, /v1/* and /metrics need it",
      { placeholder: "F" },
    ),
    "max-images": flag.integer("most images in one request", {
      min: 1,
      default: DEFAULT_LIMITS.maxImagesPerRequest,
    }),
    "max-body-mb": flag.number("largest request body in MiB", {
      positive: true,
      default: DEFAULT_LIMITS.maxBodyBytes / 2 ** 20,
    }),
    "batch-size": flag.integer("most images scored in one micro-batch", {
      min: 1,
      default: DEFAULT_MICRO_BATCH.maxBatchImages,
    }),
    "batch-window-ms": flag.integer(
      "longest a request waits for others being decoded before its batch runs",
      { min: 0, default: DEFAULT_MICRO_BATCH.maxWaitMs, placeholder: "MS" },
    ),
    "queue-images": flag.integer("most images admitted and not yet scored; beyond, 503", {
      min: 1,
      default: DEFAULT_MICRO_BATCH.maxQueuedImages,
    }),
    "deadline-seconds": flag.number("longest a request may wait for its batch (then 503)", {
      positive: true,
      default: DEFAULT_MICRO_BATCH.deadlineMs / 1000,
      placeholder: "S",
    }),
    "header-timeout-seconds": flag.number("longest a request's headers may take to arrive", {
      positive: true,
      default: DEFAULT_TIMEOUTS.headerMs / 1000,
      placeholder: "S",
    }),
    "body-timeout-seconds": flag.number("longest a request's body may take to arrive", {
      positive: true,
      default: DEFAULT_TIMEOUTS.bodyMs / 1000,
      placeholder: "S",
    }),
    "idle-timeout-seconds": flag.number("an idle kept-alive connection is closed after", {
      positive: true,
      default: DEFAULT_TIMEOUTS.idleMs / 1000,
      placeholder: "S",
    }),
    "drain-seconds": flag.number(
      "at shutdown, longest wait for requests in flight before open connections are cut",
      { positive: true, default: DEFAULT_DRAIN_MS / 1000, placeholder: "S" },
    ),
    "ood-window-seconds": flag.number("sliding window of the OOD share (grood_ood_share)", {
      positive: true,
      default: DEFAULT_OOD_WINDOW_SECONDS,
      placeholder: "S",
    }),
    replicas: flag.integer(
      "run N service processes on free loopback ports behind HAProxy (on --host/--port); " +
        "SIGHUP: rolling restart",
      { min: 1, max: MAX_REPLICAS, placeholder: "N" },
    ),
    backend: backendFlag,
  },
  examples: [
    {
      command:
        "grood fit --model fixtures/models/mnist --train dataset:mnist:train --out my-detector",
      description: "fit a detector folder",
    },
    { command: "grood serve --detector my-detector --port 8080", description: "serve it" },
    {
      command:
        "curl -s -H 'content-type: image/png' --data-binary @digit.png localhost:8080/v1/score",
      description: "score a PNG",
    },
    {
      command: "grood serve --detector my-detector --replicas 2",
      description: "HAProxy in front; kill -HUP: rolling restart",
    },
  ],
});
