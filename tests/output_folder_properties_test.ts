/**
 * Property-based tests (fast-check, seeded) of issue 24's rules for names and output folders:
 * a random spec name is an identifier that stays one folder below its base, or is refused by a
 * typed error naming the key; a folder write failed, interrupted or killed (`kill -9`) at a
 * random moment leaves the complete old folder or the complete new one.
 */
import assert from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit, Fiber, Schema } from "effect";
import fc from "fast-check";
import { Identifier, identifierProblem } from "../lib/io/paths.ts";
import { OUTPUT_MARKER, recoverOutputFolder, writeOutputFolder } from "../lib/io/output_folder.ts";
import { decodeAblation } from "../lib/pipeline/spec.ts";
import { hashModel } from "../lib/models/files.ts";
import { WRITER_BYTES, WRITER_FILES } from "./output_folder_writer.ts";

const params = (seed: number, numRuns = 200) => ({ seed, numRuns });

/** Names as users and attackers write them: words, paths, dots, separators, any characters. */
const names = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.stringMatching(/^[A-Za-z0-9_.+\-/\\ ]{0,12}$/),
  fc.constantFrom("..", ".", "", "../victim", "../../victim", "a/b", "a\\b", ".hidden", "ok-1"),
  fc.array(fc.constantFrom("..", ".", "x", "/", "\\", "-", "_"), { maxLength: 6 }).map((p) =>
    p.join("")
  ),
  fc.string({ minLength: 95, maxLength: 110 }).map((s) => s.replace(/[^a-z]/g, "a")),
);

Deno.test("a random spec name is an identifier one folder below the base, or refused by a typed error naming the key", async () => {
  const base = "/results/ablations";
  await fc.assert(
    fc.asyncProperty(names, async (name) => {
      const decoded = Schema.decodeUnknownExit(Identifier)(name);
      const spec = await Effect.runPromiseExit(
        decodeAblation({ name, benchmark: "mnist", grids: [{ samples: [100] }] }, "x.json"),
      );
      if (identifierProblem(name) === undefined) {
        assert.ok(Exit.isSuccess(decoded), name);
        assert.ok(Exit.isSuccess(spec), name);
        // The folder it names is exactly one level below the base, with this very name.
        const dir = join(base, name);
        assert.equal(dirname(dir), base, name);
        assert.equal(basename(dir), name, name);
      } else {
        assert.ok(Exit.isFailure(decoded), name);
        assert.ok(Exit.isFailure(spec), name);
        const error = await Effect.runPromise(
          Effect.flip(
            decodeAblation({ name, benchmark: "mnist", grids: [{ samples: [100] }] }, "x.json"),
          ),
        );
        assert.equal(error._tag, "InvalidInput");
        assert.match(error.message, /x\.json at name/, name);
      }
    }),
    params(24, 500),
  );
});

/** The files of a folder and their contents (the marker's date left out). */
const snapshot = async (dir: string): Promise<Record<string, string> | undefined> => {
  const out: Record<string, string> = {};
  try {
    for await (const entry of Deno.readDir(dir)) {
      out[entry.name] = entry.name === OUTPUT_MARKER
        ? "marker"
        : await Deno.readTextFile(join(dir, entry.name));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return out;
};

/** A snapshot as text whatever the order its files were listed in. */
const canonical = (files: Record<string, string> | undefined): string =>
  JSON.stringify(files === undefined ? null : Object.entries(files).sort());

const contents = (tag: string, count: number): Record<string, string> => {
  const out: Record<string, string> = { [OUTPUT_MARKER]: "marker" };
  for (let i = 0; i < count; i++) out[`f${i}.txt`] = `${tag} ${i}`;
  return out;
};

/** A fill that writes `count` files, failing before file `failAt` (never, when beyond). */
const fill = (tag: string, count: number, failAt: number, pause = false) => (tmp: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < count; i++) {
      if (i === failAt) return yield* Effect.fail(new Error(`failed at file ${i}`));
      if (pause) yield* Effect.sleep(1);
      yield* Effect.promise(() => Deno.writeTextFile(join(tmp, `f${i}.txt`), `${tag} ${i}`));
    }
  });

Deno.test("a folder write failing at a random step leaves the complete old folder or the complete new one", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-prop-" });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 8 }),
      async (hadOld, oldCount, newCount, failAt) => {
        const dir = join(parent, `out${run++}`);
        if (hadOld) {
          await Effect.runPromise(
            writeOutputFolder(dir, { kind: "test" }, fill("old", oldCount, 99)),
          );
        }
        const exit = await Effect.runPromiseExit(
          writeOutputFolder(dir, { kind: "test" }, fill("new", newCount, failAt)),
        );
        const after = await snapshot(dir);
        if (Exit.isSuccess(exit)) assert.deepEqual(after, contents("new", newCount));
        else if (hadOld) assert.deepEqual(after, contents("old", oldCount));
        else assert.equal(after, undefined);
        // Nothing else is left beside it.
        const siblings = [...Deno.readDirSync(parent)].map((e) => e.name)
          .filter((n) => n.startsWith(`.${basename(dir)}.`));
        assert.deepEqual(siblings, []);
      },
    ),
    params(7, 60),
  );
});

Deno.test("a folder write interrupted at a random moment leaves the complete old folder or the complete new one", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-interrupt-" });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 25 }), async (delay) => {
      const dir = join(parent, `out${run++}`);
      await Effect.runPromise(writeOutputFolder(dir, { kind: "test" }, fill("old", 5, 99)));
      const fiber = Effect.runFork(
        writeOutputFolder(dir, { kind: "test" }, fill("new", 8, 99, true)),
      );
      await new Promise((r) => setTimeout(r, delay));
      await Effect.runPromise(Fiber.interrupt(fiber));
      const after = canonical(await snapshot(dir));
      assert.ok(
        after === canonical(contents("old", 5)) || after === canonical(contents("new", 8)),
        `after ${delay} ms: ${after}`,
      );
    }),
    params(11, 200),
  );
});

const writer = fileURLToPath(new URL("./output_folder_writer.ts", import.meta.url));

/** A complete generation of the writer's folder: its number, or undefined when incomplete. */
const completeGeneration = async (dir: string): Promise<number | undefined> => {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  const expected = [
    OUTPUT_MARKER,
    "generation.txt",
    ...Array.from({ length: WRITER_FILES }, (_, i) => `part-${i}.bin`),
  ].sort();
  if (JSON.stringify(names) !== JSON.stringify(expected)) return undefined;
  const generation = Number(await Deno.readTextFile(join(dir, "generation.txt")));
  for (let i = 0; i < WRITER_FILES; i++) {
    const bytes = await Deno.readFile(join(dir, `part-${i}.bin`));
    if (bytes.length !== WRITER_BYTES || bytes.some((b) => b !== generation % 251)) {
      return undefined;
    }
  }
  return generation;
};

Deno.test("kill -9 of a process replacing a folder, at a random moment: the next run finds a complete folder", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-kill-" });
  let run = 0;
  const seen: Array<string> = [];
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 400 }), async (delay) => {
      const dir = join(parent, `out${run++}`);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", writer, dir],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      // Wait for the first complete generation, then kill at a random moment after it.
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("generation 1")) {
        const next = await reader.read();
        if (next.done) break;
        text += next.value;
      }
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
      const printed = [...text.matchAll(/generation (\d+)/g)].map((m) => Number(m[1]));
      const present = await Deno.lstat(dir).then(() => true, () => false);
      // What the next run does first: tidy the killed run's leftovers.
      const leftovers = await Effect.runPromise(recoverOutputFolder(dir));
      const generation = await completeGeneration(dir);
      assert.ok(generation !== undefined, `incomplete folder after a kill at +${delay} ms`);
      assert.ok(generation >= Math.max(...printed), "an older generation than one completed");
      assert.deepEqual(
        [...Deno.readDirSync(parent)].map((e) => e.name).filter((n) => n.startsWith(".")),
        [],
      );
      seen.push(
        `+${delay} ms: generation ${generation}, folder ${present ? "in place" : "moved aside"}` +
          `, ${leftovers.length} leftovers tidied`,
      );
    }),
    params(3, 16),
  );
  console.log(seen.join("\n"));
});

Deno.test("a run killed between its two renames (old folder moved aside, new not in place): the next run puts the old one back", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-folder-window-" });
  const dir = join(parent, "out");
  await Effect.runPromise(writeOutputFolder(dir, { kind: "test" }, fill("old", 3, 99)));
  // The state a SIGKILL leaves between `rename(dir, old)` and `rename(tmp, dir)` (pid 4194305
  // is above Linux's pid_max: that process is gone).
  await Deno.rename(dir, join(parent, ".out.old-4194305-0a1b2c3d"));
  await Deno.mkdir(join(parent, ".out.tmp-4194305-0a1b2c3d"));
  await Deno.writeTextFile(join(parent, ".out.tmp-4194305-0a1b2c3d", "f0.txt"), "new 0");
  await Effect.runPromise(writeOutputFolder(dir, { kind: "test" }, fill("new", 2, 99)));
  assert.equal(canonical(await snapshot(dir)), canonical(contents("new", 2)));
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["out"]);
  // And a failing write after such a kill keeps the old folder that was put back.
  await Deno.rename(dir, join(parent, ".out.old-4194305-0a1b2c3e"));
  const exit = await Effect.runPromiseExit(
    writeOutputFolder(dir, { kind: "test" }, fill("newer", 2, 1)),
  );
  assert.ok(Exit.isFailure(exit));
  assert.equal(canonical(await snapshot(dir)), canonical(contents("new", 2)));
});

Deno.test("every output folder is written through lib/io/output_folder.ts", () => {
  // The primitive that replaces a folder is called from that module only.
  const root = fileURLToPath(new URL("..", import.meta.url));
  const callers: Array<string> = [];
  for (const folder of ["lib", "tasks"]) {
    const walk = (dir: string) => {
      for (const entry of Deno.readDirSync(dir)) {
        const path = join(dir, entry.name);
        if (entry.isDirectory) walk(path);
        else if (path.endsWith(".ts") && /\bwriteDirAtomic\(/.test(Deno.readTextFileSync(path))) {
          callers.push(path.slice(root.length));
        }
      }
    };
    walk(join(root, folder));
  }
  assert.deepEqual(callers.sort(), ["lib/io/output_folder.ts"]);
});

Deno.test("a tfjs model.json with random weight paths is hashed inside its folder, or refused by a typed error", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-manifest-prop-" });
  await Deno.writeTextFile(join(parent, "secret.bin"), "outside");
  const model = join(parent, "m");
  await Deno.mkdir(join(model, "sub"), { recursive: true });
  await Deno.writeTextFile(join(model, "w.bin"), "w");
  await Deno.writeTextFile(join(model, "sub", "v.bin"), "v");
  await Deno.symlink(join(parent, "secret.bin"), join(model, "escape.bin"));
  const segment = fc.constantFrom("..", ".", "sub", "w.bin", "v.bin", "escape.bin", "secret.bin");
  const weightPath = fc.oneof(
    fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/")),
    fc.constantFrom("/etc/hostname", join(parent, "secret.bin"), "", "w.bin", "sub/v.bin"),
    fc.string({ maxLength: 8 }),
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(weightPath, { minLength: 1, maxLength: 3 }), async (paths) => {
      const json = join(model, `model-${run++}.json`);
      await Deno.writeTextFile(
        json,
        JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths, weights: [] }] }),
      );
      const exit = await Effect.runPromiseExit(hashModel(json));
      if (Exit.isSuccess(exit)) {
        // Every file hashed lies inside the model's folder, links followed.
        for (const file of exit.value.files) {
          const real = await Deno.realPath(join(model, file.path));
          assert.ok(real.startsWith(`${await Deno.realPath(model)}/`), `${paths} → ${real}`);
        }
      } else {
        const error = await Effect.runPromise(Effect.flip(hashModel(json)));
        assert.ok(
          ["PathOutsideBase", "ModelUnreadable"].includes(error._tag),
          `${JSON.stringify(paths)}: ${error._tag} ${error.message}`,
        );
      }
      await Deno.remove(json);
    }),
    params(5, 150),
  );
});

Deno.test("a model folder with random links is walked inside it, or refused by a typed error", async () => {
  const parent = await Deno.makeTempDir({ prefix: "grood-links-prop-" });
  await Deno.writeTextFile(join(parent, "outside.bin"), "outside");
  let run = 0;
  const target = fc.constantFrom(
    "a.bin",
    "sub/b.bin",
    "sub",
    ".",
    "..",
    "../outside.bin",
    "missing.bin",
    "../../etc",
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom("l1", "l2", "sub/l3"), target), { maxLength: 3 }),
      async (links) => {
        const model = join(parent, `m${run++}`);
        await Deno.mkdir(join(model, "sub"), { recursive: true });
        await Deno.writeTextFile(join(model, "a.bin"), "a");
        await Deno.writeTextFile(join(model, "sub", "b.bin"), "b");
        for (const [name, to] of links) {
          await Deno.symlink(to, join(model, name)).catch(() => {}); // one name, one link
        }
        const exit = await Effect.runPromiseExit(hashModel(model));
        const realModel = await Deno.realPath(model);
        if (Exit.isSuccess(exit)) {
          for (const file of exit.value.files) {
            const real = await Deno.realPath(join(model, file.path));
            assert.ok(real.startsWith(`${realModel}/`), `${JSON.stringify(links)} → ${real}`);
          }
          assert.ok(exit.value.files.some((f) => f.path === "a.bin"));
        } else {
          const error = await Effect.runPromise(Effect.flip(hashModel(model)));
          assert.ok(
            ["LinkLeavesRoot", "IoError", "ModelUnreadable"].includes(error._tag),
            `${JSON.stringify(links)}: ${error._tag}`,
          );
          if (error._tag === "LinkLeavesRoot") assert.match(error.message, /outside/);
        }
      },
    ),
    params(9, 120),
  );
});
