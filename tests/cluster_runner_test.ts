/**
 * A runner that cannot start says why, by name: its listening address taken (by another program)
 * is `RunnerCannotListen` naming the address and the system's reason, in one line. Starts its own
 * PostgreSQL (`throwawayPostgres`) and stops it, and kills the runner if it outlives the wait.
 * A chunk slower than `--chunk-timeout` is waited for again, never interrupted on its runner.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Exit, Scope } from "effect";
import { clusterFixture } from "../apps/cluster/fixture.ts";
import { freePorts, groodSucceeds, startGrood, startRunner } from "../apps/cluster/loopback.ts";
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

Deno.test({
  name: "a chunk slower than --chunk-timeout is asked again, not interrupted: the job finishes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grood-cluster-timeout-" });
    const scope = Effect.runSync(Scope.make());
    let runner: ReturnType<typeof startRunner> | undefined;
    try {
      const { detector } = await clusterFixture(dir, 600);
      const reference = await groodSucceeds(["score", "--detector", detector, "images.npy"], dir);
      const pg = await Effect.runPromise(Scope.provide(throwawayPostgres(), scope));
      const [port] = freePorts(1);
      runner = startRunner({
        detector,
        pg: pg.url,
        port: port!,
        cwd: dir,
        log: join(dir, "r.log"),
      });
      // Every wait for a reply times out (a chunk takes longer than 1 ms): the driver asks again.
      const driver = startGrood([
        "cluster",
        "score",
        "--detector",
        detector,
        "--job",
        "job",
        "--out",
        "out.csv",
        "--pg",
        pg.url,
        "--chunk-timeout",
        "0.001",
        "images.npy",
      ], { cwd: dir, log: join(dir, "driver.log") });
      const status = await driver.exit(300);
      const log = await Deno.readTextFile(join(dir, "driver.log"));
      assert.equal(status.code, 0, log);
      assert.equal(
        await Deno.readTextFile(join(dir, "out.csv")),
        reference,
      );
    } finally {
      runner?.kill("SIGTERM");
      await runner?.exit(30);
      await Effect.runPromise(Scope.close(scope, Exit.void));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
