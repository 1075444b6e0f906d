/**
 * The README's library example (`docs/examples/quickstart.ts`, which is the README's `ts` block)
 * and the guide's image writer (`docs/examples/mnist_pngs.ts`) type-check and run as a reader
 * runs them: from a folder outside the checkout, with the checkout's config, after `deno task
 * fit` (on the foreign ONNX fixture, small sets). The example's scores are those the library
 * gives for the same folder.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { openFittedDetector } from "../lib/fitted/open.ts";
import { scoreSource } from "../lib/fitted/score_source.ts";
import { denoTask } from "./deno_task.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Run `docs/examples/NAME` from `cwd` as the docs say. */
const runExample = async (cwd: string, name: string, args: ReadonlyArray<string>) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      join(root, "deno.json"),
      join(root, "docs/examples", name),
      ...args,
    ],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${name}: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
};

Deno.test("the README's library example is docs/examples/quickstart.ts, and the examples type-check", async () => {
  const readme = await Deno.readTextFile(join(root, "README.md"));
  const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  const example = await Deno.readTextFile(join(root, "docs/examples/quickstart.ts"));
  assert.ok(blocks.includes(example), "no ```ts block of README.md is docs/examples/quickstart.ts");
  assert.ok(example.trim().split("\n").length <= 15, "the README's example is over 15 lines");
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--config", join(root, "deno.json"), "docs/examples/"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
});

Deno.test("docs/examples: mnist_pngs writes class folders, quickstart scores a folder as the library does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-quickstart-" });
  assert.ok(!dir.startsWith(root), "the folder must be outside the checkout");
  assert.match(await runExample(dir, "mnist_pngs.ts", ["train", "1000", "train"]), /^1000 train/);
  assert.match(await runExample(dir, "mnist_pngs.ts", ["test", "30", "digits"]), /^30 test/);
  const classes = [...Deno.readDirSync(join(dir, "train"))].map((e) => e.name).sort();
  assert.deepEqual(classes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);

  const model = join(root, "fixtures/models/foreign/foreign.onnx");
  const fit = await denoTask(dir, "fit", [
    "--model",
    model,
    "--train",
    "train",
    "--val-ood",
    "ood-set:textures-val",
    "--out",
    "my-detector",
  ]);
  assert.equal(fit.code, 0, fit.stderr);

  const printed = (await runExample(dir, "quickstart.ts", ["my-detector", "digits"]))
    .trim().split("\n").map((line) => line.split(" "));
  const expected = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const detector = yield* openFittedDetector(join(dir, "my-detector"));
    const spec = { kind: "folder", path: "digits" } as const;
    return yield* scoreSource(detector, { argument: "digits", spec, baseDir: dir });
  })));
  assert.equal(printed.length, 30);
  assert.deepEqual(printed.map(([image]) => image), expected.images);
  assert.deepEqual(printed.map(([, verdict]) => verdict), expected.verdicts);
  assert.deepEqual(printed.map(([, , score]) => Number(score)), [...expected.scores]);
  await Deno.remove(dir, { recursive: true });
});
