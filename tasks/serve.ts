/**
 * `deno task serve --detector DIR [--host H] [--port P] [--token-file F]`: serve a fitted
 * detector folder (`deno task fit … --out DIR`) over HTTP until stopped (Ctrl-C or SIGTERM:
 * requests in flight are answered, then the model and the index are released).
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
import { IoError, osReason } from "../lib/io/files.ts";
import { DEFAULT_LIMITS } from "../lib/serve/limits.ts";
import { openServedFitted } from "../lib/serve/fitted.ts";
import { serveDetector } from "../lib/serve/server.ts";

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
    backend: backendFlag,
  },
  notes: [
    "example:",
    "  deno task fit --model fixtures/models/mnist --train dataset:mnist:train --out my-detector",
    "  deno task serve --detector my-detector --port 8080",
    "  curl -s -H 'content-type: image/png' --data-binary @digit.png localhost:8080/v1/score",
  ],
};

const { values } = parseCommandLine(cli);
const folder = detectorFolder(cli, values.detector);

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

/** Resolves on the first SIGINT or SIGTERM. */
const stopSignal = Effect.callback<string>((resume) => {
  const signals = ["SIGINT", "SIGTERM"] as const;
  const handlers = signals.map((signal) => {
    const handler = () => resume(Effect.succeed(signal));
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return Effect.sync(() => handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h)));
});

const program = Effect.scoped(
  Effect.gen(function* () {
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
    });
    const info = detector.info;
    console.log(
      `serving ${info.kind} detector ${info.version} (threshold ${
        info.threshold.toPrecision(6)
      }) ` +
        `at ${service.url}/${token === undefined ? "" : " (bearer token required)"}`,
    );
    const signal = yield* stopSignal;
    console.log(`${signal}: finishing requests in flight, then stopping`);
  }).pipe(Effect.ensuring(Effect.sync(() => console.log("stopped")))),
);

await runTask(program, values.backend);
