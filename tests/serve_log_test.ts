/**
 * The service's JSON log lines are written together (`LineBuffer`, `serviceLogger`): one write a
 * turn of the event loop, every line whole and in order, none lost when the process exits in the
 * same turn as it logged.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LineBuffer } from "../apps/serve/log.ts";

/** Run the script `path` in a child Deno with the checkout's config (60 s at most). */
const runScript = (path: string) =>
  new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${fileURLToPath(new URL("../deno.json", import.meta.url))}`,
      path,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();

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
    const out = await runScript(script);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 3, stderr);
    const lines = stderr.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.annotations.i), Array.from({ length: 500 }, (_, i) => i));
    assert.ok(lines.every((l) => l.message === "request" && l.level === "INFO"));
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("the access log's direct JSON line is the line Effect's formatJson writes for the same fields", async () => {
  const log = new URL("../apps/serve/log.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  const fields = {
    requestId: 'id "quoted" \\ back, ünï, \u2028',
    method: "POST",
    route: "other",
    path: "/a\nb",
    status: 503,
    images: 0,
    queueWaitMs: null,
    computeMs: 1.25,
    totalMs: 0.001,
    requestIdReplaced: true,
  };
  try {
    await Deno.writeTextFile(
      script,
      `import { Effect } from "effect";\n` +
        `import { logLine, serviceLogger } from "${log}";\n` +
        `const fields = ${JSON.stringify(fields)};\n` +
        `const program = Effect.gen(function* () {\n` +
        `  const line = yield* logLine;\n` +
        `  line("Info", "request", fields);\n` +
        `  yield* Effect.logInfo("request").pipe(Effect.annotateLogs(fields));\n` +
        `  line("Warn", "slow", { nested: { a: 1 } });\n` +
        `  yield* Effect.logWarning("slow").pipe(Effect.annotateLogs({ nested: { a: 1 } }));\n` +
        `  line("Error", "scoring failed: x", {});\n` +
        `  yield* Effect.logError("scoring failed: x");\n` +
        `});\n` +
        `Effect.runSync(Effect.provide(program, serviceLogger(true)));\n`,
    );
    const out = await runScript(script);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 6, stderr);
    const timestamp = /"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/;
    const fiberId = /"fiberId":"#\d+"\}$/;
    const stable = (l: string) => {
      assert.match(l, timestamp);
      assert.match(l, fiberId);
      return l.replace(timestamp, "").replace(fiberId, "");
    };
    for (let i = 0; i < 6; i += 2) assert.equal(stable(lines[i]!), stable(lines[i + 1]!));
    assert.deepEqual(JSON.parse(lines[0]!).annotations, fields);
    // Lines 0 and 4 were written directly (the capturing fiber's id, both), line 2 (a nested
    // field) through an Effect of its own, lines 1, 3, 5 by the program's fiber.
    const fiber = lines.map((l) => JSON.parse(l).fiberId);
    assert.equal(fiber[0], fiber[4]);
    assert.notEqual(fiber[0], fiber[1]);
    assert.notEqual(fiber[2], fiber[0]);
    assert.notEqual(fiber[2], fiber[3]);
  } finally {
    await Deno.remove(script);
  }
});
