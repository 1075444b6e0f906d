/**
 * A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a new temporary folder,
 * `pg_ctl` on a free loopback port with its socket in that folder, stopped and deleted when the
 * scope closes. A user's own databases (Debian's `main` cluster, anything on 5432) are never
 * touched. PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
 * that Debian's package creates.
 *
 * @module
 */
import { join } from "node:path";
import { Data, Effect, type Scope } from "effect";

/** The throwaway server could not be created, started or stopped. */
export class ThrowawayPostgresFailed extends Data.TaggedError("ThrowawayPostgresFailed")<{
  readonly step: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot ${this.step} the throwaway PostgreSQL server: ${this.problem}`;
  }
}

/** A running throwaway server. */
export interface ThrowawayPostgres {
  /** `postgres://grood@127.0.0.1:PORT/postgres` (trust authentication, loopback only). */
  readonly url: string;
  readonly port: number;
  /** Stop (fast shutdown: sessions are cut) and start again on the same port and data. */
  readonly restart: Effect.Effect<void, ThrowawayPostgresFailed>;
  readonly stop: Effect.Effect<void, ThrowawayPostgresFailed>;
  readonly start: Effect.Effect<void, ThrowawayPostgresFailed>;
}

/** Where Debian installs the server programs (they are not on PATH unless linked there). */
const findBinDir = (): string | undefined => {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      Deno.statSync(join(dir, "pg_ctl"));
      Deno.statSync(join(dir, "initdb"));
      return dir;
    } catch { /* not here */ }
  }
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name)
      .filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(b) - Number(a));
    return versions.length === 0 ? undefined : `/usr/lib/postgresql/${versions[0]}/bin`;
  } catch {
    return undefined;
  }
};

const freePort = (): number => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
};

const isRoot = (): boolean => Deno.uid() === 0;

/** Run a server program, as `postgres` when we are root; fail with its output. */
const run = (step: string, program: string, args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: async () => {
      const [cmd, argv] = isRoot()
        ? ["runuser", ["-u", "postgres", "--", program, ...args]]
        : [program, [...args]];
      const out = await new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: "piped" })
        .output();
      if (!out.success) {
        throw new Error(
          `${program} exited with ${out.code}: ${new TextDecoder().decode(out.stderr).trim()}`,
        );
      }
    },
    catch: (error) =>
      new ThrowawayPostgresFailed({
        step,
        problem: error instanceof Error ? error.message : String(error),
      }),
  }).pipe(
    Effect.timeoutOrElse({
      duration: "60 seconds",
      orElse: () =>
        Effect.fail(new ThrowawayPostgresFailed({ step, problem: `${program} took over 60 s` })),
    }),
  );

/**
 * Start a throwaway server for the life of the scope.
 *
 * @example
 * ```ts ignore
 * import { Effect } from "effect";
 * import { throwawayPostgres } from "./throwaway_postgres.ts";
 * await Effect.runPromise(Effect.scoped(Effect.map(throwawayPostgres(), (pg) => console.log(pg.url))));
 * ```
 */
export const throwawayPostgres = (): Effect.Effect<
  ThrowawayPostgres,
  ThrowawayPostgresFailed,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const bin = findBinDir();
    if (bin === undefined) {
      return yield* new ThrowawayPostgresFailed({
        step: "find",
        problem: "no initdb/pg_ctl on PATH or in /usr/lib/postgresql (apt-get install postgresql)",
      });
    }
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const dir = await Deno.makeTempDir({ prefix: "grood-pg-" });
          if (isRoot()) {
            const out = await new Deno.Command("chown", { args: ["postgres:", dir] }).output();
            if (!out.success) throw new Error(`chown postgres ${dir} failed`);
          }
          return dir;
        },
        catch: (error) => new ThrowawayPostgresFailed({ step: "create", problem: String(error) }),
      }),
      (dir) => Effect.promise(() => Deno.remove(dir, { recursive: true }).catch(() => {})),
    );
    const data = join(dir, "data");
    const port = freePort();
    yield* run("initialise", join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "grood",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
    ]);
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off ` +
      "-c max_connections=200";
    const start = run("start", join(bin, "pg_ctl"), [
      "-D",
      data,
      "-o",
      options,
      "-l",
      join(dir, "server.log"),
      "-w",
      "-t",
      "30",
      "start",
    ]);
    const stop = run("stop", join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
    yield* Effect.acquireRelease(
      start,
      () =>
        run("stop", join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).pipe(
          Effect.ignore,
        ),
    );
    return {
      url: `postgres://grood@127.0.0.1:${port}/postgres`,
      port,
      restart: Effect.andThen(stop, start),
      stop,
      start,
    };
  });
