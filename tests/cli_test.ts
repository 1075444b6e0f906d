/**
 * The command-line helper on its own (parseArgv) and through the real tasks, run as
 * subprocesses: every bad command line prints the problem and the task's usage and exits 2,
 * with no stack trace and before any computation.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { flag, parseArgv, usage } from "../lib/cli/command_line.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

const demo = {
  command: "deno task demo",
  summary: "A demo task.",
  positionals: { usage: "<file>", min: 1, max: 1 },
  flags: {
    seed: flag.integer("seed", { min: 0, default: 0 }),
    lr: flag.number("learning rate", { positive: true, default: 0.1 }),
    "batch-size": flag.integer("batch", { min: 1, default: 128 }),
    set: flag.choices(["letters", "textures"] as const, "sets"),
    quiet: flag.boolean("quiet"),
  },
};

Deno.test("parseArgv() decodes typed values, defaults and comma lists", () => {
  const parsed = parseArgv(demo, ["f.json", "--seed", "7", "--set", "letters,textures"]);
  assert.equal(parsed._tag, "Parsed");
  if (parsed._tag !== "Parsed") return;
  assert.equal(parsed.values.seed, 7);
  assert.equal(parsed.values.lr, 0.1);
  assert.equal(parsed.values["batch-size"], 128);
  assert.deepEqual(parsed.values.set, ["letters", "textures"]);
  assert.equal(parsed.values.quiet, false);
  assert.deepEqual(parsed.positionals, ["f.json"]);
});

Deno.test("parseArgv() reports every bad number at once", () => {
  const parsed = parseArgv(demo, [
    "f.json",
    "--seed",
    "abc",
    "--lr",
    "xyz",
    "--batch-size",
    "0",
  ]);
  assert.equal(parsed._tag, "UsageError");
  if (parsed._tag !== "UsageError") return;
  assert.match(parsed.problem, /"abc" for --seed/);
  assert.match(parsed.problem, /"xyz" for --lr/);
  assert.match(parsed.problem, /"0" for --batch-size: .*greater than or equal to 1/);
});

Deno.test("parseArgv() rejects what Number() would accept: empty, hex, Infinity, 2.5 as int", () => {
  for (const [name, raw] of [["seed", ""], ["seed", "0x10"], ["lr", "Infinity"], ["seed", "2.5"]]) {
    const parsed = parseArgv(demo, ["f.json", `--${name}`, raw!]);
    assert.equal(parsed._tag, "UsageError", `${name} ${raw}`);
  }
});

Deno.test("parseArgv() names an unknown flag with the nearest known one", () => {
  const parsed = parseArgv(demo, ["f.json", "--sede", "1"]);
  assert.deepEqual(parsed, {
    _tag: "UsageError",
    problem: "unknown flag --sede; did you mean --seed?",
  });
});

Deno.test("parseArgv() checks the number of arguments and choices", () => {
  assert.deepEqual(parseArgv(demo, []), { _tag: "UsageError", problem: "missing <file>" });
  assert.equal(parseArgv(demo, ["a", "b"])._tag, "UsageError");
  const parsed = parseArgv(demo, ["a", "--set", "leters"]);
  assert.equal(parsed._tag, "UsageError");
  if (parsed._tag === "UsageError") assert.match(parsed.problem, /did you mean letters\?/);
  assert.deepEqual(parseArgv(demo, ["--help"]), { _tag: "Help" });
});

Deno.test("usage() lists every flag with its default", () => {
  const text = usage(demo);
  assert.match(text, /^usage: deno task demo <file> \[flags\]/);
  for (const name of ["--seed N", "--lr X", "--batch-size N", "--quiet", "--help"]) {
    assert.ok(text.includes(name), name);
  }
  assert.match(text, /\(default 128\)/);
});

/** Run a task as the user would (`deno run -A tasks/<file>`), capturing its output. */
async function runTaskFile(file: string, args: ReadonlyArray<string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `tasks/${file}`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Exit 2, the problem, the task's usage, and no stack trace. */
function assertUsageError(
  result: { code: number; stdout: string; stderr: string },
  command: string,
  problem: RegExp,
) {
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, problem);
  assert.ok(result.stderr.includes(`usage: deno task ${command}`), result.stderr);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "a stack trace was printed");
  assert.doesNotMatch(result.stderr, /Uncaught|TypeError/);
}

// issue 10, "What went wrong" 7: an unknown flag printed an uncaught stack trace in every task.
for (
  const [file, command] of [
    ["train.ts", "train"],
    ["evaluate.ts", "evaluate"],
    ["reproduce.ts", "reproduce"],
    ["ablate.ts", "ablate"],
    ["data.ts", "data"],
    ["bench.ts", "bench"],
    ["notebooks.ts", "notebooks"],
    ["cache_clear.ts", "cache:clear"],
    ["inspect.ts", "inspect"],
    ["export_onnx.ts", "export-onnx"],
    ["engines.ts", "engines"],
    ["fit.ts", "fit"],
    ["score.ts", "score"],
    ["evaluate_ood.ts", "evaluate-ood"],
  ] as const
) {
  Deno.test(`deno task ${command} --no-such-flag: usage, exit 2, no stack trace`, async () => {
    assertUsageError(
      await runTaskFile(file, ["--no-such-flag"]),
      command,
      /error: unknown flag --no-such-flag/,
    );
  });
}

// issue 10, 3: `deno task ablate` with no file ran the whole paper grid.
Deno.test("deno task ablate without a spec file prints its usage and exits 2", async () => {
  assertUsageError(await runTaskFile("ablate.ts", []), "ablate", /error: missing <spec\.json>/);
});

// issue 10, 6: `train --seed abc --lr xyz` trained (NaN seed and rate) and saved over the fixture.
Deno.test("deno task train --seed abc --lr xyz is a usage error naming both", async () => {
  const result = await runTaskFile("train.ts", ["--seed", "abc", "--lr", "xyz", "--out", "x"]);
  assertUsageError(result, "train", /bad value "abc" for --seed/);
  assert.match(result.stderr, /bad value "xyz" for --lr/);
});

// issue 10, 7: `--batch-size 0` died in wasm with "divide by zero".
Deno.test("deno task train --batch-size 0 is a usage error", async () => {
  assertUsageError(
    await runTaskFile("train.ts", ["--batch-size", "0", "--out", "x"]),
    "train",
    /bad value "0" for --batch-size/,
  );
});

// issue 10, 6: train wrote over the committed fixture by default.
Deno.test("deno task train without --out refuses, and leaves the fixture alone", async () => {
  const weights = `${ROOT}fixtures/models/mnist/weights.bin`;
  const before = (await Deno.stat(weights)).mtime?.getTime();
  assertUsageError(await runTaskFile("train.ts", ["--epochs", "1"]), "train", /--out DIR/);
  assert.equal((await Deno.stat(weights)).mtime?.getTime(), before);
});

Deno.test("--help prints the usage and exits 0", async () => {
  const result = await runTaskFile("train.ts", ["--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /usage: deno task train/);
});

// issue 10, 3: typos ran the default GROOD; samples beyond the training set were capped while
// the table showed the asked-for value; a huge grid was accepted. Now each stops before any
// feature is extracted, naming the file, and writes no results.
for (
  const [what, grids, problem] of [
    [
      "an unknown key",
      [{ lamda: [0.3] }],
      /unknown key lamda in .*x\.json at grids\[0\]; did you mean lambda\?/,
    ],
    [
      "more samples than training images",
      [{ samples: [100_000_000] }],
      /samples 100000000 is more than the 60000 training images/,
    ],
    ["a layer the model lacks", [{ earlyBoundary: ["block9"] }], /no layer block9/],
    [
      "a grid of 1,200 variants",
      [{
        k: Array.from({ length: 40 }, (_, i) => i + 1),
        seed: Array.from({ length: 30 }, (_, i) => i),
      }],
      /has 1,200 variants, more than the limit of 1,000: pass --allow-large-grid/,
    ],
  ] as const
) {
  Deno.test(`deno task ablate with ${what} fails before computing and writes nothing`, async () => {
    const dir = await Deno.makeTempDir();
    const spec = `${dir}/x.json`;
    await Deno.writeTextFile(spec, JSON.stringify({ name: "x", benchmark: "mnist", grids }));
    const result = await runTaskFile("ablate.ts", [spec, "--out", `${dir}/out`]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, problem);
    assert.doesNotMatch(result.stdout, /features /);
    assert.doesNotMatch(result.stderr, /^\s+at /m);
    await assert.rejects(Deno.stat(`${dir}/out`));
    await Deno.remove(dir, { recursive: true });
  });
}
