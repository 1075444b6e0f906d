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
import { Deferred, Effect } from "effect";
import { serveTask } from "../apps/cli/commands/serve.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { Compute } from "../mod.ts";
import { wrapperGone } from "../apps/cli/parent.ts";
import { IoError, osReason } from "../lib/io/mod.ts";
import { serveReplicas } from "./serve_replicas.ts";
import {
  type LogLine,
  logLine,
  openServedFitted,
  serveDetector,
  serviceLogger,
} from "../apps/serve/mod.ts";

const { values } = await taskInput(serveTask);
const folder = invocationPath(values.detector);
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
/** Listeners installed at start, so a signal before the "serving" line is kept, not fatal. */
const stopped = Effect.runSync(Deferred.make<string>());
for (const signal of SIGNALS) {
  Deno.addSignalListener(signal, () => {
    if (!stopping) return void Effect.runSync(Deferred.succeed(stopped, signal));
    say("Warn", `${signal} again: exiting without waiting for requests in flight`);
    Deno.exit(signal === "SIGINT" ? 130 : 143);
  });
}
const stopSignal = Deferred.await(stopped);

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
