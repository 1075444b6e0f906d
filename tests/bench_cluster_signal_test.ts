/**
 * `grood bench cluster` stopped by a signal stops its throwaway PostgreSQL: `pg_ctl` detaches the
 * server, and a signal's default exit skipped the `finally` that stops it, leaving it running
 * (found by a probe).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The PostgreSQL servers running now with a `/tmp/grood-pg-…` data folder: folder → pid. */
function postgresFolders(): Map<string, number> {
  const found = new Map<string, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      const data = args.indexOf("-D");
      if (/postgres$/.test(args[0] ?? "") && args[data + 1]?.includes("grood-pg-")) {
        found.set(args[data + 1]!, Number(entry.name));
      }
    } catch {
      // gone
    }
  }
  return found;
}

Deno.test({
  name:
    "SIGTERM to grood bench cluster once its PostgreSQL runs: the server is stopped, its folder removed",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grood-bench-signal-" });
    const before = postgresFolders();
    const child = new Deno.Command(join(root, "grood"), {
      args: ["bench", "cluster", "--images", "2560", "--out", join(dir, "cluster.json")],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    let started: ReadonlyArray<string> = [];
    try {
      // Its PostgreSQL: a new server with a grood-pg- data folder (at most 180 s).
      const deadline = Date.now() + 180_000;
      while (started.length === 0 && Date.now() < deadline) {
        started = [...postgresFolders().keys()].filter((d) => !before.has(d));
        await sleep(100);
      }
      assert.equal(started.length, 1, "no throwaway PostgreSQL started within 180 s");
      child.kill("SIGTERM");
      const status = await Promise.race([child.status, sleep(60_000)]);
      assert.ok(status !== undefined, "still running 60 s after SIGTERM");
      assert.equal((status as Deno.CommandStatus).code, 143);
      assert.ok(!postgresFolders().has(started[0]!), `PostgreSQL of ${started[0]} left running`);
      assert.throws(() => Deno.statSync(join(started[0]!, "..")), Deno.errors.NotFound);
    } finally {
      // Whatever the outcome, nothing of this test is left running.
      for (const pid of [child.pid, ...started.map((d) => postgresFolders().get(d) ?? 0)]) {
        try {
          if (pid > 0) Deno.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      for (const folder of started) {
        await Deno.remove(join(folder, ".."), { recursive: true }).catch(() => {});
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
