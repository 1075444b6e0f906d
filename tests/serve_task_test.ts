/**
 * `deno task serve` as a user runs it, on a folder written by `deno task fit` (GROOD on 2,000
 * MNIST training images with the committed MNIST classifier): the service's scores equal the
 * `score` task's on the same PNG files within 1e-6, the token file is enforced, the metadata is
 * the folder's, and SIGTERM stops it cleanly after answering.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import sharp from "sharp";
import { loadSplit } from "../lib/data/datasets.ts";
import { loadOodSet } from "../lib/data/ood/mod.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { within } from "../apps/serve/timer.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const mnistModel = join(root, "fixtures/models/mnist");

/** Run a task file of the checkout from `cwd`. */
const command = (cwd: string, file: string, args: ReadonlyArray<string>) =>
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(root, "deno.json"), join(root, "tasks", file), ...args],
    cwd,
    // A shell in `cwd` has no INIT_CWD, or `deno task` sets it to `cwd`; under `npm test` the
    // inherited one names the checkout, and relative paths would resolve there.
    env: { NO_COLOR: "1", INIT_CWD: cwd },
    stdout: "piped",
    stderr: "piped",
  });
const run = async (cwd: string, file: string, args: ReadonlyArray<string>) => {
  const out = await command(cwd, file, args).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
};

/** Read a child's output until `pattern` matches (at most `ms`); returns the match. */
async function waitFor(stream: ReadableStream<Uint8Array>, pattern: RegExp, ms = 120_000) {
  const reader = stream.pipeThrough(new TextDecoderStream() as TransformStream<Uint8Array, string>)
    .getReader();
  let text = "";
  const deadline = Date.now() + ms;
  for (;;) {
    const read = await within(reader.read(), deadline - Date.now());
    if (read === undefined) throw new Error(`no ${pattern} within ${ms / 1000} s: ${text}`);
    const { done, value } = read;
    if (done) throw new Error(`the service exited before printing ${pattern}: ${text}`);
    text += value;
    const match = pattern.exec(text);
    if (match !== null) return { match, rest: reader };
  }
}

Deno.test("deno task serve scores as deno task score does, enforces its token, stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-serve-task-" });
  const train = await Effect.runPromise(loadSplit("mnist", "train"));
  await Effect.runPromise(
    writeNpyAtomic(join(dir, "digits.npy"), train.pixels.slice(0, 2000 * 784), [2000, 28, 28]),
  );
  await Effect.runPromise(
    writeNpyAtomic(join(dir, "digits.labels.npy"), train.labels.slice(0, 2000), [2000]),
  );
  const fit = await run(dir, "fit.ts", [
    "--model",
    mnistModel,
    "--train",
    "digits.npy",
    "--val-ood",
    "ood-set:letters-val",
    "--out",
    "detector",
  ]);
  assert.equal(fit.code, 0, fit.stderr);
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "detector/detector.json")));

  // Ten test digits and ten letters as PNG files, scored offline by the score task.
  const test = await Effect.runPromise(loadSplit("mnist", "test"));
  const letters = await Effect.runPromise(loadOodSet("letters"));
  await Deno.mkdir(join(dir, "pngs"));
  const names: Array<string> = [];
  for (let i = 0; i < 20; i++) {
    const pixels = i < 10
      ? test.pixels.subarray(i * 784, (i + 1) * 784)
      : letters.data.subarray(i * 784, (i + 1) * 784);
    const name = `${i < 10 ? "digit" : "letter"}-${String(i).padStart(2, "0")}.png`;
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png()
      .toFile(join(dir, "pngs", name));
    names.push(name);
  }
  const score = await run(dir, "score.ts", [
    "--detector",
    "detector",
    "pngs",
    "--out",
    "scores.json",
  ]);
  assert.equal(score.code, 0, score.stderr);
  const offline = JSON.parse(await Deno.readTextFile(join(dir, "scores.json"))).rows as Array<
    { image: string; score: number; ood: boolean; predicted: string }
  >;
  assert.equal(offline.length, 20);

  await Deno.writeTextFile(join(dir, "token.txt"), "correct-horse\n");
  const child = command(dir, "serve.ts", [
    "--detector",
    "detector",
    "--port",
    "0",
    "--token-file",
    "token.txt",
    "--ood-window-seconds",
    "120",
  ]).spawn();
  try {
    // Logs (start-up included) are JSON lines on stderr; nothing is written on stdout.
    void child.stdout.cancel().catch(() => {});
    const { match, rest } = await waitFor(child.stderr, /at (http:\/\/[\d.]+:\d+)\//);
    const url = match[1]!;
    const auth = { authorization: "Bearer correct-horse" };

    const refused = await fetch(`${url}/v1/detector`);
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const info = await fetch(`${url}/v1/detector`, { headers: auth }).then((r) => r.json());
    assert.equal(info.threshold, manifest.threshold);
    assert.equal(info.kind, "grood");
    assert.equal(info.modelKey, manifest.model.sha256);
    assert.deepEqual(info.histogram.edges, manifest.scores.edges);

    const answers = await Promise.all(offline.map(async (row) => {
      const png = await Deno.readFile(join(dir, "pngs", row.image));
      const response = await fetch(`${url}/v1/score`, {
        method: "POST",
        headers: { "content-type": "image/png", ...auth },
        body: png,
      });
      assert.equal(response.status, 200, row.image);
      return (await response.json()).results[0];
    }));
    answers.forEach((answer, k) => {
      const row = offline[k]!;
      assert.ok(
        Math.abs(answer.score - row.score) <= 1e-6,
        `${row.image}: ${answer.score} vs ${row.score}`,
      );
      assert.equal(answer.isOod, row.ood, row.image);
      assert.equal(answer.className, row.predicted, row.image);
      assert.equal(answer.threshold, manifest.threshold);
    });
    // Some letters are flagged, most digits are not: the folder's threshold is in force.
    assert.ok(answers.slice(10).some((a) => a.isOod));

    // The verdicts returned are the ones counted: in the counters, the OOD share over the
    // window (--ood-window-seconds 120) and the per-minute buckets of /drift.
    const returned = { in: 0, ood: 0, invalid: 0 };
    for (const answer of answers) returned[answer.verdict as keyof typeof returned] += 1;
    const metrics = await fetch(`${url}/metrics`, { headers: auth }).then((r) => r.text());
    for (const [verdict, n] of Object.entries(returned)) {
      assert.match(
        metrics,
        new RegExp(`^grood_verdicts_total\\{verdict="${verdict}"\\} ${n}$`, "m"),
      );
    }
    assert.match(metrics, /^grood_build_info\{[^}]*model_kind="grood",detector="grood"\} 1$/m);
    const drift = await fetch(`${url}/drift`, { headers: auth }).then((r) => r.json());
    assert.equal(drift.windowSeconds, 120);
    assert.equal(drift.oodShare, returned.ood / (returned.in + returned.ood));
    const summed = { in: 0, ood: 0, invalid: 0 };
    for (const b of drift.buckets) for (const k of Object.keys(summed)) summed[k as "in"] += b[k];
    assert.deepEqual(summed, returned);

    child.kill("SIGTERM");
    const status = await within(child.status, 60_000);
    if (status === undefined) throw new Error("still running 60 s after SIGTERM");
    let text = "";
    for (;;) {
      // The log is whole once the process has exited; a pipe held open elsewhere ends it too.
      const read = await within(rest.read(), 10_000);
      if (read === undefined || read.done) break;
      text += read.value;
    }
    assert.equal(status.code, 0, text);
    assert.match(text, /SIGTERM: finishing requests in flight/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already stopped
    }
    await Deno.remove(dir, { recursive: true });
  }
});
