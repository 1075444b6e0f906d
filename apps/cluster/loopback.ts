/**
 * A cluster on one machine, for the tests and `grood bench cluster`: runners and drivers started
 * as `grood cluster runner` and `grood cluster score` (`apps/cli/main.ts`) on the real Deno
 * binary (through `exec`, so a signal sent to the process id reaches the program itself, not a
 * wrapper), each logging to its own file.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
const main = fileURLToPath(new URL("../cli/main.ts", import.meta.url));
const launcher = fileURLToPath(new URL("../../grood", import.meta.url));

/**
 * The real Deno binary running this program (`node_modules/deno/deno` when started through the
 * npm package's wrapper or `./grood`): signals sent to it reach the program, unlike the
 * wrapper's.
 */
export const DENO: string = Deno.execPath();

/** The arguments of `DENO` that run `grood <args…>` as the `./grood` launcher does. */
export const groodArgs = (args: ReadonlyArray<string>): Array<string> => [
  "run",
  "-A",
  "--config",
  config,
  main,
  ...args,
];

/** How `grood <args…>` ended ({@link groodOutput}): its exit code and what it printed. */
export interface Finished {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `grood <args…>` in `cwd` to its end, with no input; its exit code and output as text. */
export const groodOutput = async (
  args: ReadonlyArray<string>,
  cwd: string,
): Promise<Finished> => {
  const output = await new Deno.Command(DENO, {
    args: groodArgs(args),
    cwd,
    env: { NO_COLOR: "1", INIT_CWD: cwd },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
};

/** Run `grood <args…>` in `cwd` as {@link groodOutput}; its output, or an error with stderr. */
export const groodSucceeds = async (args: ReadonlyArray<string>, cwd: string): Promise<string> => {
  const { code, stdout, stderr } = await groodOutput(args, cwd);
  if (code !== 0) throw new Error(`grood ${args.join(" ")} exited ${code}:\n${stderr}`);
  return stdout;
};

/** A started program: its process id, its log file, and how it ended. */
export interface Started {
  readonly pid: number;
  readonly log: string;
  /** Send a signal (`SIGKILL`, `SIGTERM`, `SIGSTOP`, `SIGCONT`) to the program. */
  readonly kill: (signal: Deno.Signal) => void;
  /** Its exit, waited for at most `seconds` (then killed with SIGKILL). */
  readonly exit: (seconds: number) => Promise<Deno.CommandStatus>;
}

/** How a program is started, and where it logs. */
export interface StartOptions {
  readonly cwd: string;
  readonly log: string;
  /**
   * Start it as a user would under a process manager: through the checkout's `./grood`
   * launcher, which execs the real binary in its own place (the same process id), instead of
   * `DENO run … apps/cli/main.ts` directly.
   */
  readonly viaLauncher?: boolean;
}

/** Start `grood <args…>` on the real binary in `cwd`, stdout and stderr into `log`. */
export const startGrood = (args: ReadonlyArray<string>, options: StartOptions): Started => {
  const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const command = (options.viaLauncher ? [launcher, ...args] : [DENO, ...groodArgs(args)])
    .map(quote).join(" ");
  const child = new Deno.Command("bash", {
    args: ["-c", `exec ${command} > ${quote(options.log)} 2>&1`],
    cwd: options.cwd,
    // Relative paths are taken from INIT_CWD when it is set (as `deno task` and `npm test` set it).
    env: { NO_COLOR: "1", INIT_CWD: options.cwd },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const status = child.status;
  return {
    pid: child.pid,
    log: options.log,
    kill: (signal) => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    exit: async (seconds) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((
        done,
      ) => (timer = setTimeout(() => done("late"), seconds * 1000)));
      const result = await Promise.race([status, late]);
      clearTimeout(timer);
      if (result !== "late") return result;
      try {
        child.kill("SIGKILL");
      } catch { /* gone meanwhile */ }
      return await status;
    },
  };
};

/** Start a runner on `port`. */
export const startRunner = (
  options: StartOptions & {
    readonly detector: string;
    readonly pg: string;
    readonly port: number;
    readonly extra?: ReadonlyArray<string>;
  },
): Started =>
  startGrood([
    "cluster",
    "runner",
    "--detector",
    options.detector,
    "--pg",
    options.pg,
    "--port",
    String(options.port),
    ...(options.extra ?? []),
  ], options);

/** Start the driver. */
export const startDriver = (
  options: StartOptions & {
    readonly detector: string;
    readonly pg: string;
    readonly job: string;
    readonly out: string;
    readonly sources: ReadonlyArray<string>;
    readonly extra?: ReadonlyArray<string>;
  },
): Started =>
  startGrood([
    "cluster",
    "score",
    "--detector",
    options.detector,
    "--pg",
    options.pg,
    "--job",
    options.job,
    "--out",
    options.out,
    "--progress",
    "1",
    ...(options.extra ?? []),
    ...options.sources,
  ], options);

/** Resolve when `check()` holds (checked every `every` ms); fail naming `what` after `seconds`. */
export const waitFor = async (
  what: string,
  seconds: number,
  check: () => boolean | Promise<boolean>,
  every = 200,
): Promise<void> => {
  const deadline = performance.now() + seconds * 1000;
  while (!(await check())) {
    if (performance.now() > deadline) {
      throw new Error(`gave up after ${seconds} s waiting: ${what}`);
    }
    await new Promise((done) => setTimeout(done, every));
  }
};

/**
 * Pause `process` (SIGSTOP) while `during(settled)` runs, then resume it (SIGCONT). `settled` is
 * `progress()` once it has held still for 100 ms: what the process had already set going (a
 * chunk in flight) has landed, and nothing new starts while it is paused.
 */
export const whilePaused = async <A>(
  process: Started,
  progress: () => number,
  during: (settled: number) => Promise<A>,
): Promise<A> => {
  process.kill("SIGSTOP");
  try {
    let settled = progress();
    for (;;) {
      await new Promise((done) => setTimeout(done, 100));
      const now = progress();
      if (now === settled) break;
      settled = now;
    }
    return await during(settled);
  } finally {
    process.kill("SIGCONT");
  }
};

/** Free TCP ports on loopback (probed, then released). */
export const freePorts = (count: number): ReadonlyArray<number> => {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
};

/** Part files in a job folder. */
export const partsIn = (jobDir: string): ReadonlyArray<string> => {
  try {
    return [...Deno.readDirSync(join(jobDir, "parts"))]
      .filter((e) => e.isFile && e.name.endsWith(".json")).map((e) => e.name);
  } catch {
    return [];
  }
};

/**
 * `cleanup` as a one-time release that a SIGINT or SIGTERM runs too (then the exit of that
 * signal, 130 or 143): a benchmark holds a throwaway PostgreSQL that `pg_ctl` detached, and a
 * signal's default exit skipped the `finally` that stops it, leaving the server running. Call the
 * returned function in that `finally`: it runs `cleanup` (once) and removes the listeners.
 */
export const releasedOnSignal = (cleanup: () => Promise<void>): () => Promise<void> => {
  let done: Promise<void> | undefined;
  const once = () => (done ??= cleanup());
  const listeners = (["SIGINT", "SIGTERM"] as const).map((name) => {
    const listener = () => void once().finally(() => Deno.exit(name === "SIGINT" ? 130 : 143));
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  return async () => {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    await once();
  };
};
