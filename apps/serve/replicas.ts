/**
 * N service processes behind HAProxy (`deno task serve --replicas N`), as a scoped resource.
 * Opening it writes HAProxy's configuration into a temporary folder (`haproxy.ts`), starts the
 * replicas on free loopback ports, waits until each answers `/readyz`, then starts HAProxy on the
 * public address. A replica that dies is started again. Closing the scope stops HAProxy softly
 * (it finishes the requests it holds), then sends SIGTERM to every replica (each drains), kills
 * whatever outlives its drain, and removes the folder.
 *
 * The rolling restart replaces the replicas one at a time without dropping a request: the
 * replica is taken out of HAProxy's rotation (`disable server`, at once, rather than waiting for
 * `/readyz` checks to fail), its open connections through HAProxy end, it is sent SIGTERM and
 * drains what it still holds, the replacement starts on the same port, and it is put back once
 * it answers `/readyz` and HAProxy's own check sees it up. Then the next one.
 *
 * @module
 */
import { join } from "node:path";
import { Data, Effect, type Scope } from "effect";
import { IoError, osReason } from "../../lib/io/mod.ts";
import {
  BACKEND,
  findHaproxy,
  haproxyCommand,
  haproxyConfig,
  HaproxyError,
  serverStats,
} from "./haproxy.ts";
import type { LogLine } from "./log.ts";
import { within } from "./timer.ts";

/** Most replicas one machine may start (`--replicas` is checked against it). */
export const MAX_REPLICAS = 64;

/** A replica did not start, or did not become ready in time. */
export class ReplicaFailed extends Data.TaggedError("ReplicaFailed")<{
  readonly replica: string;
  readonly reason: string;
}> {
  /** The error's one-line description (what failed and why). */
  override get message(): string {
    return `replica ${this.replica}: ${this.reason}`;
  }
}

/** How to run the replicas. */
export interface ReplicasOptions {
  /** How many replicas to start (at most `MAX_REPLICAS`). */
  readonly count: number;
  /** Address HAProxy listens on. */
  readonly host: string;
  /** Port HAProxy listens on (0: a free one). */
  readonly port: number;
  /** The command that starts one replica listening on 127.0.0.1:`port`. */
  readonly replica: (port: number) => { readonly command: string; readonly args: string[] };
  /** A replica's longest drain (its `--drain-seconds`). */
  readonly drainMs: number;
  /** Where the replicas' and HAProxy's events are logged. */
  readonly log: LogLine;
}

/** Running replicas behind HAProxy. */
export interface RunningReplicas {
  /** HAProxy's base URL. */
  readonly url: string;
  /** HAProxy's process id. */
  readonly haproxyPid: number;
  /** The replicas' process ids now. */
  readonly pids: () => ReadonlyArray<number>;
  /** Replace every replica, one at a time, dropping no request. */
  readonly rollingRestart: Effect.Effect<void, ReplicaFailed | HaproxyError>;
}

interface Slot {
  readonly name: string;
  readonly port: number;
  child: Deno.ChildProcess | undefined;
  /** Stopped on purpose (no restart when it exits). */
  retiring: boolean;
  /** Exits in a row within a minute of starting (the restart waits longer each time). */
  crashes: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * `count` free loopback ports, all distinct: every listener is held until all are chosen (one
 * closed at a time let the kernel hand out the same port twice: 196 distinct in 200 binds).
 */
function freePorts(count: number): ReadonlyArray<number> {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // already gone
  }
}

/** Wait at most `ms` for `child` to exit; true when it did. */
async function exitedWithin(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  return (await within(child.status.then(() => true), ms)) ?? false;
}

/** SIGTERM, then SIGKILL if it still runs `graceMs` later. */
async function stopChild(child: Deno.ChildProcess, graceMs: number, first: Deno.Signal) {
  signal(child, first);
  if (!(await exitedWithin(child, graceMs))) {
    signal(child, "SIGKILL");
    await exitedWithin(child, 5000);
  }
}

/** Poll `url` until it answers 200 (at most `ms`), failing early when `child` exits. */
async function readyWithin(url: string, child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let gone = false;
  child.status.then(() => (gone = true), () => (gone = true));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !gone) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return false;
}

/**
 * How HAProxy is started: in the foreground (`-db`), and, through util-linux's `setpriv` when it
 * is there (always on Debian), with SIGTERM as its parent-death signal, so that it stops even when
 * the supervisor is killed outright (SIGKILL) and cannot stop it. (The replicas notice that
 * themselves: a service watches the processes that started it, `apps/cli/parent.ts`.)
 */
function haproxyCommandLine(haproxy: string, config: string): [string, Deno.CommandOptions] {
  const io = { stdin: "null", stdout: "inherit", stderr: "inherit" } as const;
  const own = ["-db", "-f", config];
  try {
    Deno.statSync("/usr/bin/setpriv");
    return ["/usr/bin/setpriv", { args: ["--pdeathsig", "TERM", "--", haproxy, ...own], ...io }];
  } catch {
    return [haproxy, { args: own, ...io }];
  }
}

/** Start N replicas and HAProxy in front of them, for the life of the scope. */
export const runReplicas = (
  options: ReplicasOptions,
): Effect.Effect<RunningReplicas, ReplicaFailed | HaproxyError | IoError, Scope.Scope> =>
  Effect.gen(function* () {
    const { log, drainMs } = options;
    const haproxy = yield* findHaproxy;
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => Deno.makeTempDir({ prefix: "grood-replicas-" }),
        catch: (cause) =>
          new IoError({ path: "(temporary folder)", operation: "create", reason: osReason(cause) }),
      }),
      (path) => Effect.promise(() => Deno.remove(path, { recursive: true }).catch(() => {})),
    );
    const socket = join(dir, "admin.sock");
    const slots: Array<Slot> = freePorts(options.count).map((port, i) => ({
      name: `r${i + 1}`,
      port,
      child: undefined,
      retiring: false,
      crashes: 0,
    }));
    let closing = false;

    /** Start the replica of `slot` and wait (at most 120 s) until it answers `/readyz`. */
    const launch = async (slot: Slot): Promise<void> => {
      // Stopping: a replica started now would outlive the supervisor (nothing stops it).
      if (closing) return;
      const { command, args } = options.replica(slot.port);
      const child = new Deno.Command(command, {
        args,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      slot.child = child;
      slot.retiring = false;
      const started = Date.now();
      child.status.then((status) => {
        if (closing || slot.retiring || slot.child !== child) return;
        // 0.5 s, then twice as long after each exit within a minute of its start, at most 30 s.
        slot.crashes = Date.now() - started < 60_000 ? slot.crashes + 1 : 1;
        const delay = Math.min(30_000, 500 * 2 ** (slot.crashes - 1));
        log(
          "Warn",
          `replica ${slot.name} (pid ${child.pid}) exited (${status.code}): restarting in ${
            delay / 1000
          } s`,
          { replica: slot.name, pid: child.pid },
        );
        void sleep(delay).then(() => {
          if (!closing && slot.child === child) launch(slot).catch(() => {});
        });
      });
      const ready = await readyWithin(`http://127.0.0.1:${slot.port}/readyz`, child, 120_000);
      if (!ready) {
        slot.retiring = true;
        await stopChild(child, 1000, "SIGKILL");
        throw new ReplicaFailed({
          replica: slot.name,
          reason: `not ready on port ${slot.port} within 120 s (or it exited; see its log)`,
        });
      }
      log("Info", `replica ${slot.name} (pid ${child.pid}) ready on 127.0.0.1:${slot.port}`, {
        replica: slot.name,
        pid: child.pid,
        port: slot.port,
      });
    };

    const stopReplicas = async () => {
      closing = true;
      await Promise.all(slots.map(async (slot) => {
        if (slot.child !== undefined) await stopChild(slot.child, drainMs + 5000, "SIGTERM");
      }));
    };
    yield* Effect.addFinalizer(() => Effect.promise(stopReplicas));
    yield* Effect.tryPromise({
      try: () => Promise.all(slots.map(launch)),
      catch: (cause) =>
        cause instanceof ReplicaFailed
          ? cause
          : new ReplicaFailed({ replica: "?", reason: String(cause) }),
    });

    const port = options.port === 0 ? freePorts(1)[0]! : options.port;
    const bind = `${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
    const config = join(dir, "haproxy.cfg");
    yield* Effect.tryPromise({
      try: () =>
        Deno.writeTextFile(
          config,
          haproxyConfig({ bind, socket, servers: slots, serverTimeoutMs: 60_000 }),
        ),
      catch: (cause) => new IoError({ path: config, operation: "write", reason: osReason(cause) }),
    });
    const proxy = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Deno.Command(...haproxyCommandLine(haproxy, config)).spawn(),
        catch: (cause) =>
          new HaproxyError({ operation: `start ${haproxy}`, reason: osReason(cause) }),
      }),
      // Soft stop (SIGUSR1): stop listening, finish the requests held, then exit.
      (child) => Effect.promise(() => stopChild(child, drainMs + 5000, "SIGUSR1")),
    );
    // Runs first at release: from now on a replica that exits (a Ctrl-C in a terminal reaches
    // every process of the group) is not started again.
    yield* Effect.addFinalizer(() => Effect.sync(() => (closing = true)));
    // Up when its admin socket answers and it sees every replica up (at most 30 s).
    const upWithin = async (names: ReadonlyArray<string>, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const stats = await Effect.runPromise(Effect.option(serverStats(socket)));
        if (
          stats._tag === "Some" &&
          names.every((n) => stats.value.find((s) => s.name === n)?.status.startsWith("UP"))
        ) return true;
        if (await exitedWithin(proxy, 100)) return false;
      }
      return false;
    };
    if (!(yield* Effect.promise(() => upWithin(slots.map((s) => s.name), 30_000)))) {
      return yield* new HaproxyError({
        operation: `listen on ${bind}`,
        reason: "it exited or did not see the replicas up within 30 s (see its messages above)",
      });
    }
    const url = `http://${bind}`;
    log(
      "Info",
      `HAProxy (pid ${proxy.pid}) at ${url}/ in front of ${slots.length} replicas (config ${config}); rolling restart: kill -HUP ${Deno.pid}`,
      {
        url,
        config,
        pid: proxy.pid,
        supervisor: Deno.pid,
        replicas: slots.length,
      },
    );

    const admin = (command: string) =>
      Effect.runPromise(haproxyCommand(socket, command)).then((answer) => {
        if (answer.trim() !== "") throw new Error(`${command}: ${answer.trim()}`);
      });
    let restarting = false;
    const restartOne = async (slot: Slot) => {
      const old = slot.child;
      // 1. Out of rotation at once; wait until HAProxy holds no connection to it.
      await admin(`disable server ${BACKEND}/${slot.name}`);
      const deadline = Date.now() + drainMs + 5000;
      while (Date.now() < deadline) {
        const stats = await Effect.runPromise(serverStats(socket));
        if ((stats.find((s) => s.name === slot.name)?.current ?? 0) === 0) break;
        await sleep(50);
      }
      // 2. SIGTERM: it drains whatever it still holds, then exits.
      slot.retiring = true;
      if (old !== undefined) await stopChild(old, drainMs + 5000, "SIGTERM");
      if (closing) return;
      // 3. The replacement, on the same port; back in rotation once HAProxy sees it up.
      await launch(slot);
      await admin(`enable server ${BACKEND}/${slot.name}`);
      if (!(await upWithin([slot.name], 30_000))) {
        throw new ReplicaFailed({ replica: slot.name, reason: "HAProxy did not see it up" });
      }
      log("Info", `rolling restart: ${slot.name} replaced (pid ${slot.child?.pid})`, {
        replica: slot.name,
        pid: slot.child?.pid,
      });
    };
    const rollingRestart = Effect.tryPromise({
      try: async () => {
        if (restarting) return log("Warn", "a rolling restart is already under way");
        restarting = true;
        try {
          log("Info", `rolling restart of ${slots.length} replicas`);
          for (const slot of slots) if (!closing) await restartOne(slot);
          log("Info", "rolling restart done");
        } finally {
          restarting = false;
        }
      },
      catch: (cause) =>
        cause instanceof ReplicaFailed
          ? cause
          : new HaproxyError({ operation: "restart replicas", reason: String(cause) }),
    });
    return {
      url,
      haproxyPid: proxy.pid,
      pids: () => slots.flatMap((s) => (s.child === undefined ? [] : [s.child.pid])),
      rollingRestart,
    } satisfies RunningReplicas;
  });
