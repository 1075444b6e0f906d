/**
 * `deno task serve --detector DIR [--host H] [--port P] [--token-file F] …`: serve a fitted
 * detector folder (`deno task fit … --out DIR`) over HTTP until stopped. Ctrl-C, SIGTERM or the
 * death of the wrapper that started it (`npm`, `deno task`, which do not pass signals on) drains
 * the service: no new connections, requests in flight answered for at most `--drain-seconds`,
 * stalled clients cut, then the model and the index are released; a second signal exits at once.
 * `scripts/serve.sh` starts it on the real Deno binary, so signals reach it directly.
 *
 * With `--replicas N` it runs N such processes behind HAProxy instead (`serve_replicas.ts`).
 *
 * Routes: `POST /v1/score` (PNG/JPEG body, JSON `{"images": [base64…]}` or a `.npy` batch),
 * `GET /v1/detector`, `GET /healthz`, `GET /metrics`, and the web page at `GET /`.
 *
 * @module
 */
import { Effect } from "effect";
import {
  backendFlag,
  detectorFolder,
  detectorFolderFlag,
  flag,
  invocationPath,
  parseCommandLine,
  runTask,
} from "../lib/cli/command_line.ts";
import { Compute } from "../lib/compute/compute.ts";
import { wrapperGone } from "../lib/cli/parent.ts";
import { IoError, osReason } from "../lib/io/files.ts";
import { serveReplicas } from "./serve_replicas.ts";
import { DEFAULT_MICRO_BATCH } from "../lib/serve/batcher.ts";
import { DEFAULT_TIMEOUTS } from "../lib/serve/front.ts";
import { DEFAULT_OOD_WINDOW_SECONDS } from "../lib/serve/drift.ts";
import { DEFAULT_LIMITS } from "../lib/serve/limits.ts";
import { type LogLine, logLine, serviceLogger } from "../lib/serve/log.ts";
import { openServedFitted } from "../lib/serve/fitted.ts";
import { DEFAULT_DRAIN_MS, serveDetector } from "../lib/serve/server.ts";

const cli = {
  command: "deno task serve",
  summary: "Serve a fitted detector over HTTP: scoring API, metrics and a web page.",
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
    replicas: flag.string(
      "run N service processes on free loopback ports behind HAProxy (on --host/--port); SIGHUP: rolling restart",
      { placeholder: "N" },
    ),
    backend: backendFlag,
  },
  notes: [
    "example:",
    "  deno task fit --model fixtures/models/mnist --train dataset:mnist:train --out my-detector",
    "  scripts/serve.sh --detector my-detector --port 8080   # or: deno task serve …",
    "  curl -s -H 'content-type: image/png' --data-binary @digit.png localhost:8080/v1/score",
    "  scripts/serve.sh --detector my-detector --replicas 2   # HAProxy in front; kill -HUP: rolling restart",
    "logs: JSON lines on stderr (pretty in a terminal); routes, metrics and flags: docs/serve.md",
  ],
};

const { values } = parseCommandLine(cli);
const folder = detectorFolder(cli, values.detector);
if (values.replicas !== undefined) {
  await serveReplicas(values.replicas, {
    host: values.host,
    port: values.port,
    drainMs: values["drain-seconds"] * 1000,
  });
  Deno.exit(0);
}

/** The token in `path` (surrounding whitespace removed); an empty file is an error. */
const readToken = (path: string) =>
  Effect.tryPromise({
    try: () => Deno.readTextFile(path),
    catch: (cause) =>
      new IoError({ path, operation: "read the token file", reason: osReason(cause) }),
  }).pipe(
    Effect.flatMap((text) =>
      text.trim() === ""
        ? Effect.fail(
          new IoError({ path, operation: "read the token file", reason: "it is empty" }),
        )
        : Effect.succeed(text.trim())
    ),
  );

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Resolves on the first SIGINT or SIGTERM; from then on, a second one ends the process at once
 * (exit code 128 + its number), whatever is still draining.
 */
let stopping = false;
const stopSignal = Effect.callback<string>((resume) => {
  for (const signal of SIGNALS) {
    Deno.addSignalListener(signal, () => {
      if (!stopping) return resume(Effect.succeed(signal));
      say("Warn", `${signal} again: exiting without waiting for requests in flight`);
      Deno.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
});

/** The service's log (set once the program runs; a closed stderr is not an error). */
let say: LogLine = () => {};

const program = Effect.scoped(
  Effect.gen(function* () {
    say = yield* logLine;
    const { tf } = yield* Compute;
    const tokenFile = values["token-file"];
    const token = tokenFile === undefined ? undefined : yield* readToken(invocationPath(tokenFile));
    const detector = yield* openServedFitted(folder, () => tf.memory().numTensors);
    const service = yield* serveDetector(detector, {
      hostname: values.host,
      port: values.port,
      ...(token === undefined ? {} : { token }),
      limits: {
        maxImagesPerRequest: values["max-images"],
        maxBodyBytes: Math.round(values["max-body-mb"] * 2 ** 20),
      },
      batch: {
        maxBatchImages: values["batch-size"],
        maxWaitMs: values["batch-window-ms"],
        maxQueuedImages: values["queue-images"],
        deadlineMs: values["deadline-seconds"] * 1000,
      },
      timeouts: {
        headerMs: values["header-timeout-seconds"] * 1000,
        bodyMs: values["body-timeout-seconds"] * 1000,
        idleMs: values["idle-timeout-seconds"] * 1000,
      },
      drainMs: values["drain-seconds"] * 1000,
      oodWindowSeconds: values["ood-window-seconds"],
    });
    const info = detector.info;
    say(
      "Info",
      `serving ${info.kind} detector ${info.version} (threshold ${
        info.threshold.toPrecision(6)
      }) at ${service.url}/${token === undefined ? "" : " (bearer token required)"}`,
      { url: service.url, detector: info.kind, version: info.version },
    );
    const signal = yield* Effect.raceFirst(stopSignal, wrapperGone());
    stopping = true;
    say(
      "Info",
      `${signal}: finishing requests in flight (at most ${
        values["drain-seconds"]
      } s), then stopping`,
    );
  }),
).pipe(
  // After the scope: the drain is over and the model released.
  Effect.ensuring(Effect.sync(() => say("Info", "stopped"))),
);

await runTask(program, values.backend, { logger: serviceLogger() });
// Stopped and released: the listeners kept for a second signal must not keep the process alive.
Deno.exit(0);
