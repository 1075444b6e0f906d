/**
 * The service's JSON log lines are written together (`LineBuffer`, `serviceLogger`): one write a
 * turn of the event loop, every line whole and in order, none lost when the process exits in the
 * same turn as it logged.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LineBuffer } from "../apps/serve/log.ts";

/** A turn of the event loop later (after the buffer's own 0 ms timer, set before it). */
const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("lines added in one turn are written in one block at its end, in order, one a line", async () => {
  const writes: Array<string> = [];
  const buffer = new LineBuffer((bytes) => void writes.push(new TextDecoder().decode(bytes)));
  for (let i = 0; i < 100; i++) buffer.add(JSON.stringify({ message: "request", i }));
  assert.equal(writes.length, 0, "nothing written before the turn ends");
  await nextTurn();
  assert.equal(writes.length, 1);
  const lines = writes[0]!.split("\n");
  assert.equal(lines.pop(), "", "the block ends with a newline");
  assert.deepEqual(lines.map((l) => JSON.parse(l).i), Array.from({ length: 100 }, (_, i) => i));
  buffer.add("next");
  buffer.flush();
  assert.deepEqual(writes.slice(1), ["next\n"], "flush writes at once");
  await nextTurn();
  assert.equal(writes.length, 2, "a flushed buffer has nothing left for its timer");
});

Deno.test("more than 64 KiB kept is written at once; a failing output drops the block, not the caller", () => {
  const writes: Array<number> = [];
  const buffer = new LineBuffer((bytes) => void writes.push(bytes.length));
  const line = "x".repeat(1023);
  for (let i = 0; i < 64; i++) buffer.add(line);
  assert.deepEqual(writes, [64 * 1024], "written when the 64th KiB arrived");
  const broken = new LineBuffer(() => {
    throw new Error("stderr closed");
  });
  broken.add("lost");
  broken.flush();
});

Deno.test("a process that logs through serviceLogger and exits in the same turn loses no line", async () => {
  const log = new URL("../apps/serve/log.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { Effect } from "effect";\n` +
        `import { serviceLogger } from "${log}";\n` +
        `const lines = Effect.forEach(Array.from({ length: 500 }, (_, i) => i), (i) =>` +
        ` Effect.logInfo("request").pipe(Effect.annotateLogs({ i })));\n` +
        `Effect.runSync(Effect.provide(lines, serviceLogger(true)));\n` +
        `Deno.exit(3);\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--config=${fileURLToPath(new URL("../deno.json", import.meta.url))}`,
        script,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 3, stderr);
    const lines = stderr.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.annotations.i), Array.from({ length: 500 }, (_, i) => i));
    assert.ok(lines.every((l) => l.message === "request" && l.level === "INFO"));
  } finally {
    await Deno.remove(script);
  }
});
