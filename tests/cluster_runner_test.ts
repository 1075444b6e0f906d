/**
 * A runner that cannot start says why, by name: its listening address taken (by another program)
 * is `RunnerCannotListen` naming the address and the system's reason, in one line. Starts its own
 * PostgreSQL (`throwawayPostgres`) and stops it, and kills the runner if it outlives the wait.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Exit, Scope } from "effect";
import { freePorts, startGrood } from "../apps/cluster/loopback.ts";
import { throwawayPostgres } from "../apps/cluster/throwaway_postgres.ts";

Deno.test("a runner whose port is taken stops with RunnerCannotListen naming the address", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-listen-" });
  const scope = Effect.runSync(Scope.make());
  const [port] = freePorts(1);
  const taken = Deno.listen({ hostname: "127.0.0.1", port: port! });
  try {
    const pg = await Effect.runPromise(Scope.provide(throwawayPostgres(), scope));
    const log = join(dir, "runner.log");
    const runner = startGrood(
      ["cluster", "runner", "--pg", pg.url, "--port", String(port)],
      { cwd: dir, log },
    );
    const status = await runner.exit(120);
    const text = await Deno.readTextFile(log);
    assert.equal(status.code, 1, text);
    assert.match(text, new RegExp(`error: The runner cannot listen on 127\\.0\\.0\\.1:${port}`));
    assert.match(text, /EADDRINUSE/);
    assert.doesNotMatch(text, /^\s+at /m, `no stack trace:\n${text}`);
  } finally {
    taken.close();
    await Effect.runPromise(Scope.close(scope, Exit.void));
    await Deno.remove(dir, { recursive: true });
  }
});
