/**
 * The supervisor of `deno task serve --replicas N` (and `scripts/serve.sh --replicas N`): N
 * service processes (this task's own `tasks/serve.ts`, with the same flags, on free loopback
 * ports) behind HAProxy on `--host`/`--port` (`apps/serve/replicas.ts`). SIGHUP replaces the
 * replicas one at a time (rolling restart, no request dropped); SIGINT or SIGTERM (or the death of
 * a wrapper that started it) stops HAProxy, then every replica, and removes the temporary folder.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Deferred, Effect } from "effect";
import { wrapperGone } from "../apps/cli/parent.ts";
import {
  type LogLine,
  logLine,
  type RunningReplicas,
  runReplicas,
  serviceLogger,
} from "../apps/serve/mod.ts";
import { taskArgs } from "../apps/cli/task_input.ts";

/** Where HAProxy listens and how long a replica drains. */
export interface ReplicaTaskOptions {
  readonly host: string;
  readonly port: number;
  readonly drainMs: number;
}

/** `argv` without the flags the supervisor sets itself (`--replicas`, `--host`, `--port`). */
export function replicaArgv(argv: ReadonlyArray<string>): Array<string> {
  const own = new Set(["--replicas", "--host", "--port"]);
  const kept: Array<string> = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (own.has(arg)) i++;
    else if (![...own].some((f) => arg.startsWith(`${f}=`))) kept.push(arg);
  }
  return kept;
}

const root = fileURLToPath(new URL("..", import.meta.url));

/** Run the replicas until SIGINT/SIGTERM; exits the process with 1 on a failure. */
export async function serveReplicas(count: number, options: ReplicaTaskOptions): Promise<void> {
  const forwarded = replicaArgv(taskArgs());
  let say: LogLine = () => {};
  let stopping = false;
  // The listeners are installed before anything starts: a SIGTERM that arrives while the
  // replicas start (or right after the "HAProxy … at" line) is kept, never the default exit 143.
  const stopped = Effect.runSync(Deferred.make<string>());
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(name, () => {
      if (!stopping) return void Effect.runSync(Deferred.succeed(stopped, name));
      say("Warn", `${name} again: still stopping (HAProxy, then the replicas)`);
    });
  }
  const stopSignal = Deferred.await(stopped);
  // SIGHUP too: one that comes while the replicas start (HAProxy may already answer) would
  // otherwise kill the supervisor; it is kept and the rolling restart runs once they are up.
  let running: RunningReplicas | undefined;
  let restartAsked = false;
  const restart = () => {
    if (stopping) return void say("Warn", "SIGHUP while stopping: no rolling restart");
    if (running === undefined) return void (restartAsked = true);
    Effect.runFork(running.rollingRestart.pipe(
      Effect.catch((error) => Effect.sync(() => say("Error", error.message))),
    ));
  };
  Deno.addSignalListener("SIGHUP", restart);
  const program = Effect.scoped(Effect.gen(function* () {
    say = yield* logLine;
    running = yield* runReplicas({
      count,
      host: options.host,
      port: options.port,
      drainMs: options.drainMs,
      log: say,
      replica: (port) => ({
        command: Deno.execPath(),
        args: [
          "run",
          "-A",
          "--unstable-no-legacy-abort",
          "--config",
          `${root}deno.json`,
          `${root}apps/cli/main.ts`,
          "serve",
          ...forwarded,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ],
      }),
    });
    if (restartAsked) {
      say("Info", "SIGHUP came while the replicas started: rolling restart now");
      restart();
    }
    const signal = yield* Effect.raceFirst(stopSignal, wrapperGone());
    stopping = true;
    say("Info", `${signal}: stopping HAProxy, then the replicas`);
  })).pipe(Effect.ensuring(Effect.sync(() => say("Info", "stopped"))));
  const exit = await Effect.runPromiseExit(Effect.provide(program, serviceLogger()));
  Deno.removeSignalListener("SIGHUP", restart);
  if (exit._tag === "Failure") {
    const text = String(exit.cause);
    const error = exit.cause.reasons.find((r) => r._tag === "Fail");
    const message = error !== undefined && "error" in error && error.error instanceof Error
      ? error.error.message
      : text;
    await Effect.runPromise(
      Effect.logError(`error: ${message}`).pipe(
        Effect.provide(serviceLogger()),
      ),
    );
    Deno.exit(1);
  }
}
