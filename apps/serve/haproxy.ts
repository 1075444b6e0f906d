/**
 * HAProxy in front of service replicas: the binary (on `PATH` or in `/usr/sbin`), the generated
 * configuration (health checks on `/readyz`, retries and redispatch, timeouts, an admin socket)
 * and the runtime API over that socket (`show stat`, `disable server`, `enable server`).
 *
 * @example The configuration for two replicas
 * ```ts
 * import { haproxyConfig } from "./haproxy.ts";
 * const text = haproxyConfig({
 *   bind: "127.0.0.1:8080",
 *   socket: "/tmp/x/admin.sock",
 *   servers: [{ name: "r1", port: 9001 }, { name: "r2", port: 9002 }],
 * });
 * if (!text.includes("uri /readyz") || !text.includes("server r2 127.0.0.1:9002")) {
 *   throw new Error("bad config");
 * }
 * ```
 *
 * @module
 */
import { Data, Effect } from "effect";

/** HAProxy could not be found, started or talked to. */
export class HaproxyError extends Data.TaggedError("HaproxyError")<{
  readonly operation: string;
  readonly reason: string;
}> {
  /** The error's one-line description (what failed and why). */
  override get message(): string {
    return `HAProxy: cannot ${this.operation}: ${this.reason}`;
  }
}

/** The path of the `haproxy` binary: the first on `PATH`, else `/usr/sbin/haproxy`. */
export const findHaproxy: Effect.Effect<string, HaproxyError> = Effect.suspend(() => {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""), "/usr/sbin"];
  for (const dir of dirs) {
    const path = `${dir}/haproxy`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return Effect.succeed(path);
    } catch {
      // not here
    }
  }
  return Effect.fail(
    new HaproxyError({
      operation: "find its binary",
      reason: "no haproxy on PATH nor in /usr/sbin (scripts/setup.sh installs it)",
    }),
  );
});

/** Whether HAProxy is installed (for tests that need it). */
export const haproxyInstalled = (): boolean =>
  Effect.runSync(Effect.match(findHaproxy, { onFailure: () => false, onSuccess: () => true }));

/** One replica as HAProxy sees it. */
export interface HaproxyServer {
  /** Its name in the backend (`r1`…). */
  readonly name: string;
  /** Its loopback port. */
  readonly port: number;
}

/** What the configuration needs. */
export interface HaproxyConfigOptions {
  /** `host:port` the front listens on. */
  readonly bind: string;
  /** Path of the admin socket (runtime API). */
  readonly socket: string;
  /** The replicas HAProxy balances over. */
  readonly servers: ReadonlyArray<HaproxyServer>;
  /** Longest a response may take (default 60 s: above the service's batch deadline). */
  readonly serverTimeoutMs?: number;
}

/** The name of the backend holding the replicas. */
export const BACKEND = "replicas";

/**
 * HAProxy's configuration. Every request goes to the replica with the fewest connections; a
 * replica is checked every 500 ms (`GET /readyz`, 200 expected) and taken out after 2 failures
 * (a draining or dead replica within about 1 s), back in after 1 success. A request whose
 * connection to a replica fails, or that gets no answer (the replica died with it) or a 502/503/504,
 * is retried up to 3 times, on another replica (`option redispatch`): scoring is idempotent, so a
 * retry is safe. Requests larger than HAProxy's buffer (16 KiB) cannot be retried once sent.
 */
export function haproxyConfig(options: HaproxyConfigOptions): string {
  const server = options.serverTimeoutMs ?? 60_000;
  return [
    "global",
    `  stats socket ${options.socket} mode 600 level admin`,
    "  maxconn 4096",
    "  hard-stop-after 30s",
    "",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 60s",
    `  timeout server ${Math.ceil(server / 1000)}s`,
    "  timeout http-request 15s",
    "  timeout http-keep-alive 10s",
    "  timeout queue 10s",
    "  timeout check 2s",
    "  retries 3",
    "  option redispatch 1",
    "  retry-on conn-failure empty-response junk-response response-timeout 502 503 504",
    "",
    "frontend grood",
    `  bind ${options.bind}`,
    `  default_backend ${BACKEND}`,
    "",
    `backend ${BACKEND}`,
    "  balance leastconn",
    "  option httpchk",
    "  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1",
    "  http-check expect status 200",
    "  default-server check inter 500ms fall 2 rise 1",
    ...options.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port}`),
    "",
  ].join("\n");
}

/** Send one command to HAProxy's admin socket and read its whole answer (at most 5 s). */
export const haproxyCommand = (socket: string, command: string) =>
  Effect.tryPromise({
    try: async () => {
      const connection = await Deno.connect({ transport: "unix", path: socket });
      const timer = setTimeout(() => connection.close(), 5000);
      try {
        await connection.write(new TextEncoder().encode(`${command}\n`));
        let text = "";
        const decoder = new TextDecoder();
        for await (const chunk of connection.readable) text += decoder.decode(chunk);
        return text;
      } finally {
        clearTimeout(timer);
        try {
          connection.close();
        } catch {
          // already closed (by HAProxy after its answer)
        }
      }
    },
    catch: (cause) =>
      new HaproxyError({
        operation: `run "${command}" on ${socket}`,
        reason: cause instanceof Error ? cause.message : String(cause),
      }),
  });

/** One server's line of `show stat`. */
export interface ServerStat {
  /** The server's name in the configuration (`HaproxyServer.name`). */
  readonly name: string;
  /** `UP`, `DOWN`, `MAINT`, `UP 1/2`… */
  readonly status: string;
  /** Connections open to it now. */
  readonly current: number;
}

/** The servers of the replicas' backend, from `show stat`'s CSV. */
export function parseStat(csv: string): ReadonlyArray<ServerStat> {
  const lines = csv.split("\n").filter((l) => l.trim() !== "");
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const at = (name: string) => header.indexOf(name);
  const [px, sv, scur, status] = [at("pxname"), at("svname"), at("scur"), at("status")];
  return lines.slice(1).map((l) => l.split(",")).filter((f) =>
    f[px] === BACKEND && f[sv] !== "BACKEND" && f[sv] !== "FRONTEND"
  ).map((f) => ({ name: f[sv]!, status: f[status] ?? "", current: Number(f[scur] ?? 0) }));
}

/** The replicas' servers as HAProxy sees them now. */
export const serverStats = (socket: string) =>
  haproxyCommand(socket, "show stat").pipe(Effect.map(parseStat));
