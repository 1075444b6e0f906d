/**
 * The one `grood` command (`apps/cli/`, the `./grood` launcher): its flags
 * decoded strictly in process, and every task's command line as a user runs it, in a
 * subprocess: every help comes from `effect/cli`, a misspelt subcommand or flag is refused by
 * name with the nearest one, every bad command line exits 2 with the problem and the help and no
 * stack trace, before any computation; the launcher runs from any folder without `deno` on PATH.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { runGrood } from "../apps/cli/app.ts";
import { TASKS } from "../apps/cli/commands/mod.ts";
import { flag } from "../apps/cli/flags.ts";
import { type AnyTask, task, type TaskInput } from "../apps/cli/task.ts";
import { argsAfterPath } from "../apps/cli/task_input.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const GROOD = join(ROOT, "grood");

const demo = task("demo", {
  summary: "A demo task.",
  positionals: { name: "file", description: "a file", min: 1, max: 1 },
  flags: {
    seed: flag.integer("seed", { min: 0, default: 0 }),
    lr: flag.number("learning rate", { positive: true, default: 0.1 }),
    "batch-size": flag.integer("batch", { min: 1, max: 100, default: 128 }),
    set: flag.choices(["letters", "textures"] as const, "sets"),
    quiet: flag.boolean("quiet"),
    out: flag.string("a path"),
  },
}, ({ values }) => values.quiet && values.out !== undefined ? "--quiet and --out" : undefined);

/** Decode `argv` as `grood demo …` in process: the exit code and the input handed over. */
async function decode(argv: ReadonlyArray<string>) {
  let input: TaskInput<unknown> | undefined;
  // The help and the problems are printed: kept out of the test's output.
  const { log, error } = console;
  console.log = console.error = () => {};
  try {
    const code = await runGrood(["demo", ...argv], {
      tasks: [demo as AnyTask],
      version: "test",
      runner: { run: (_, given) => Effect.sync(() => void (input = given)) },
    });
    return { code, input: input as typeof demo.input };
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("flags decode to typed values, defaults and comma lists", async () => {
  const { code, input } = await decode(["f.json", "--seed", "7", "--set", "letters,textures"]);
  assert.equal(code, 0);
  assert.deepEqual(input, {
    values: {
      seed: 7,
      lr: 0.1,
      "batch-size": 128,
      set: ["letters", "textures"],
      quiet: false,
      out: undefined,
    },
    positionals: ["f.json"],
  });
  const repeated = await decode(["f", "--set", "letters", "--set", "textures", "--quiet"]);
  assert.deepEqual(repeated.input?.values.set, ["letters", "textures"]);
  assert.equal(repeated.input?.values.quiet, true);
});

Deno.test("a value Number() would accept, or out of bounds, is refused, never clamped", async () => {
  for (
    const argv of [
      ["--seed", ""],
      ["--seed", "0x10"],
      ["--lr", "Infinity"],
      ["--seed", "2.5"],
      ["--seed", "-1"],
      ["--seed", "9007199254740993"],
      ["--batch-size", "0"],
      ["--batch-size", "101"],
      ["--lr", "0"],
      ["--set", "letters,leters"],
      ["--out", ""],
    ]
  ) {
    const { code, input } = await decode(["f.json", ...argv]);
    assert.equal(code, 2, argv.join(" "));
    assert.equal(input, undefined, `${argv.join(" ")} reached the task`);
  }
});

Deno.test("unknown flags, missing and extra arguments, and checks across flags exit 2", async () => {
  for (
    const argv of [
      ["f.json", "--sede", "1"],
      [],
      [""],
      ["a", "b"],
      ["f.json", "--quiet", "--out", "x"],
    ]
  ) {
    const { code, input } = await decode(argv);
    assert.equal(code, 2, argv.join(" "));
    assert.equal(input, undefined);
  }
  assert.equal((await decode(["--help"])).code, 0);
});

Deno.test("a task's own arguments are what follows its path", () => {
  assert.deepEqual(argsAfterPath(["bench", "serve", "--out", "x"], "bench serve"), ["--out", "x"]);
  assert.deepEqual(argsAfterPath(["serve", "--port", "0", "--host", "serve"], "serve"), [
    "--port",
    "0",
    "--host",
    "serve",
  ]);
});

/** Run the `grood` launcher from `cwd` with a PATH that holds no `deno`. */
async function grood(args: ReadonlyArray<string>, cwd = ROOT, command = GROOD) {
  const output = await new Deno.Command(command, {
    args: [...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    // No `deno` on PATH; HOME for Deno's module cache.
    env: { NO_COLOR: "1", PATH: "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp" },
    clearEnv: true,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Exit 2, the problem, the command's help (effect/cli's), and no stack trace. */
function assertUsageError(
  result: { code: number; stdout: string; stderr: string },
  path: string,
  problem: RegExp,
) {
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, problem);
  assert.match(result.stderr, new RegExp(`USAGE\\s+grood ${path}`));
  assert.doesNotMatch(result.stderr, /^\s+at /m, "a stack trace was printed");
  assert.doesNotMatch(result.stderr, /Uncaught|TypeError/);
}

Deno.test("the launcher runs from any folder, through a symlink, without deno on PATH", async () => {
  const elsewhere = await Deno.makeTempDir({ prefix: "grood-cli-" });
  try {
    const help = await grood(["--help"], elsewhere);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /USAGE\s+grood <subcommand>/);
    for (const t of TASKS) assert.ok(help.stdout.includes(t.path.split(" ")[0]!), t.path);
    await Deno.symlink(GROOD, join(elsewhere, "grood"));
    const linked = await grood(["score", "--help"], elsewhere, join(elsewhere, "grood"));
    assert.equal(linked.code, 0, linked.stderr);
    assert.match(linked.stdout, /USAGE\s+grood score \[flags\] <SRC\.\.\.>/);
  } finally {
    await Deno.remove(elsewhere, { recursive: true });
  }
});

for (const t of TASKS) {
  Deno.test(`grood ${t.path} --help is effect/cli's help; an unknown flag is refused by name`, async () => {
    const help = await grood([...t.path.split(" "), "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`USAGE\\s+grood ${t.path}`));
    assert.match(help.stdout, /GLOBAL FLAGS\s+--help, -h\s+Show help information/);
    assert.ok(help.stdout.includes(t.summary), "the summary");
    assertUsageError(
      await grood([...t.path.split(" "), "--no-such-flag"]),
      t.path,
      new RegExp(`Unrecognized flag: --no-such-flag in command grood ${t.path}`),
    );
  });
}

Deno.test("a misspelt subcommand or flag gets a did-you-mean", async () => {
  const sub = await grood(["scroe", "--detector", "d", "x.npy"]);
  assert.equal(sub.code, 2);
  assert.match(sub.stderr, /Unknown subcommand "scroe" for "grood"\s+Did you mean this\?\s+score/);
  assertUsageError(
    await grood(["fit", "--modle", "m"]),
    "fit",
    /Unrecognized flag: --modle in command grood fit\s+Did you mean this\?\s+--model/,
  );
  assertUsageError(
    await grood(["data", "--only", "leters"]),
    "data",
    /Invalid value for flag --only: "leters"\. Expected: one of .*; did you mean letters\?/,
  );
});

Deno.test("deno task <name> --help and a task file run on its own print the same help", async () => {
  const viaTask = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", join(ROOT, "deno.json"), "cache:clear", "--help"],
    cwd: await Deno.makeTempDir(),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const direct = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/cache_clear.ts", "--help"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(viaTask.code, 0, text(viaTask.stderr));
  assert.equal(direct.code, 0, text(direct.stderr));
  assert.match(text(viaTask.stdout), /USAGE\s+grood cache clear \[flags\]/);
  assert.equal(text(direct.stdout), text(viaTask.stdout));
});

Deno.test("deno task runner, score-cluster, fit-cluster and bench:cluster are aliases of grood's commands", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    for (
      const [name, path] of [
        ["runner", "cluster runner"],
        ["score-cluster", "cluster score"],
        ["fit-cluster", "cluster fit"],
        ["bench:cluster", "bench cluster"],
      ] as const
    ) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "--config", join(ROOT, "deno.json"), name, "--help"],
        cwd,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(text, new RegExp(`USAGE\\s+grood ${path}`), name);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("grood cluster lists the runner and the drivers; their failover flags are one declaration", async () => {
  const group = await grood(["cluster", "--help"]);
  assert.equal(group.code, 0, group.stderr);
  assert.match(group.stdout, /SUBCOMMANDS\s+runner\s+.*\n\s+score\s+.*\n\s+fit\s+/);
  const flagLines = async (path: ReadonlyArray<string>) =>
    (await grood([...path, "--help"])).stdout.split("\n")
      .filter((line) => /^\s+--(pg|lock-|health-|assignment-|message-)/.test(line));
  const runner = await flagLines(["cluster", "runner"]);
  assert.equal(runner.length, 6, runner.join("\n"));
  for (const driver of ["score", "fit"]) {
    // Columns are padded to each command's widest flag: compared with spaces collapsed.
    const words = (line: string) => line.trim().replace(/\s+/g, " ");
    assert.deepEqual(
      (await flagLines(["cluster", driver])).map(words),
      runner.map(words),
      driver,
    );
  }
});

Deno.test("grood --completions prints effect/cli's shell completions of every subcommand", async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const out = await grood(["--completions", shell]);
    assert.equal(out.code, 0, out.stderr);
    for (
      const word of [
        "evaluate-ood",
        "export-onnx",
        "--detector",
        "--allow-large-grid",
        "cluster",
        "runner",
        "--lock-expiration",
        "--chunk-timeout",
      ]
    ) {
      assert.ok(out.stdout.includes(word), `${shell}: ${word}`);
    }
  }
});

// issue 10, 3: `deno task ablate` with no file ran the whole paper grid.
Deno.test("grood ablate without a spec file prints its usage and exits 2", async () => {
  assertUsageError(await grood(["ablate"]), "ablate", /Missing required argument: spec\.json/);
});

// issue 10, 6: `train --seed abc --lr xyz` trained (NaN seed and rate) and saved over the fixture.
Deno.test("grood train --seed abc is a usage error naming the flag", async () => {
  assertUsageError(
    await grood(["train", "--seed", "abc", "--lr", "0.1", "--out", "x"]),
    "train",
    /Invalid value for flag --seed: "abc"/,
  );
  assertUsageError(
    await grood(["train", "--lr", "xyz", "--out", "x"]),
    "train",
    /Invalid value for flag --lr: "xyz"/,
  );
});

// issue 10, 7: `--batch-size 0` died in wasm with "divide by zero".
Deno.test("grood train --batch-size 0 is a usage error", async () => {
  assertUsageError(
    await grood(["train", "--batch-size", "0", "--out", "x"]),
    "train",
    /Invalid value for flag --batch-size: "0"\. Expected: a number from 1 to 60000/,
  );
});

// --threads (onnxruntime threads per session) is bounded, never capped: 0, 65 and a word refused.
Deno.test("grood fit and score --threads outside 1..64 is a usage error naming the flag", async () => {
  for (const value of ["0", "65", "two"]) {
    assertUsageError(
      await grood(["fit", "--model", "m", "--train", "t", "--out", "o", "--threads", value]),
      "fit",
      new RegExp(`Invalid value for flag --threads: "${value}"`),
    );
  }
  assertUsageError(
    await grood(["score", "--detector", "d", "--threads", "0", "x"]),
    "score",
    /Invalid value for flag --threads: "0"\. Expected: a number from 1 to 64/,
  );
});

// issue 10, 6: train wrote over the committed fixture by default.
Deno.test("grood train without --out refuses, and leaves the fixture alone", async () => {
  const weights = `${ROOT}fixtures/models/mnist/weights.bin`;
  const before = (await Deno.stat(weights)).mtime?.getTime();
  assertUsageError(await grood(["train", "--epochs", "1"]), "train", /--out DIR/);
  assert.equal((await Deno.stat(weights)).mtime?.getTime(), before);
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
  Deno.test(`grood ablate with ${what} fails before computing and writes nothing`, async () => {
    const dir = await Deno.makeTempDir();
    const spec = `${dir}/x.json`;
    await Deno.writeTextFile(spec, JSON.stringify({ name: "x", benchmark: "mnist", grids }));
    const result = await grood(["ablate", spec, "--out", `${dir}/out`]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, problem);
    assert.doesNotMatch(result.stdout, /features /);
    assert.doesNotMatch(result.stderr, /^\s+at /m);
    await assert.rejects(Deno.stat(`${dir}/out`));
    await Deno.remove(dir, { recursive: true });
  });
}
