import assert from "node:assert/strict";
import { Effect } from "effect";
import { join } from "node:path";
import {
  ensureWritable,
  IoError,
  readFile,
  sha256Hex,
  writeDirAtomic,
  writeFile,
} from "../lib/io/files.ts";
import { memoDigest } from "../lib/io/verified.ts";
import { recoverOutputFolder } from "../lib/io/output_folder.ts";

const CHECKOUT = new URL("../", import.meta.url);

/** A path that cannot be written even by root: its parent is a regular file. */
async function unwritable(): Promise<{ file: string; path: string }> {
  const file = await Deno.makeTempFile();
  return { file, path: join(file, "results") };
}

Deno.test("every fallible read and write is an IoError naming the path and the OS reason", async () => {
  const { file, path } = await unwritable();
  const write = await Effect.runPromise(Effect.flip(writeFile(join(path, "x.json"), "{}")));
  assert.ok(write instanceof IoError);
  assert.equal(write.path, join(path, "x.json"));
  assert.match(
    write.message,
    new RegExp(`^Cannot write "${file}/results/x.json": .*Not a directory`),
  );
  const read = await Effect.runPromise(Effect.flip(readFile("/no/such/file")));
  assert.match(read.message, /^Cannot read "\/no\/such\/file": .*No such file/);
  const probe = await Effect.runPromise(Effect.flip(ensureWritable(path)));
  assert.equal(probe._tag, "IoError");
  assert.match(probe.message, new RegExp(`"${path}": .*Not a directory`));
});

Deno.test("writeDirAtomic() keeps the previous complete results when a write fails midway", async () => {
  const parent = await Deno.makeTempDir();
  const dir = join(parent, "mnist");
  await Effect.runPromise(writeDirAtomic(dir, (tmp) =>
    Effect.gen(function* () {
      yield* writeFile(join(tmp, "summary.csv"), "old summary");
      yield* writeFile(join(tmp, "results.csv"), "old results");
    })));
  // The second run fails after its first file (as a full disk would).
  const failed = await Effect.runPromise(
    Effect.flip(writeDirAtomic(dir, (tmp) =>
      Effect.gen(function* () {
        yield* writeFile(join(tmp, "summary.csv"), "new summary");
        const blocker = join(tmp, "blocker");
        yield* writeFile(blocker, "");
        yield* writeFile(join(blocker, "results.csv"), "new results");
      }))),
  );
  assert.equal(failed._tag, "IoError");
  assert.equal(await Deno.readTextFile(join(dir, "summary.csv")), "old summary");
  assert.equal(await Deno.readTextFile(join(dir, "results.csv")), "old results");
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["mnist"], "no temp left");
  // A run that completes replaces the folder as a whole.
  await Effect.runPromise(writeDirAtomic(dir, (tmp) => writeFile(join(tmp, "summary.csv"), "new")));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["summary.csv"]);
  assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["mnist"]);
});

Deno.test("writeDirAtomic() leaves nothing when interrupted", async () => {
  const parent = await Deno.makeTempDir();
  const dir = join(parent, "exports");
  const exit = await Effect.runPromiseExit(
    writeDirAtomic(dir, (tmp) =>
      Effect.gen(function* () {
        yield* writeFile(join(tmp, "a.npy"), "partial");
        return yield* Effect.interrupt;
      })),
  );
  assert.equal(exit._tag, "Failure");
  assert.deepEqual([...Deno.readDirSync(parent)], []);
});

Deno.test("ablate on an unwritable --out fails before any computation, naming the path", async () => {
  const { path } = await unwritable();
  const spec = join(await Deno.makeTempDir(), "spec.json");
  await Deno.writeTextFile(
    spec,
    JSON.stringify({ name: "tiny", benchmark: "mnist", grids: [{ k: [1] }] }),
  );
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/ablate.ts", spec, "--out", path, "--no-cache"],
    cwd: CHECKOUT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 1, stdout + stderr);
  assert.match(stderr, new RegExp(`error: Cannot write into "${path}": .*Not a directory`));
  assert.doesNotMatch(stdout, /features|variant/, "nothing was computed");
  assert.ok(performance.now() - started < 60_000);
});

Deno.test("memoDigest() hashes a file once, and again after any change to it", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "set-images-idx3-ubyte");
  const memo = join(dir, "verified.json");
  const bytes = new Uint8Array(4096).map((_, i) => i % 251);
  await Deno.writeFile(path, bytes);
  let hashed = 0;
  const digest = (b: Uint8Array) => (hashed++, sha256Hex(b));
  const first = await Effect.runPromise(memoDigest(path, bytes, "raw", digest, memo));
  const second = await Effect.runPromise(memoDigest(path, bytes, "raw", digest, memo));
  assert.equal(first, sha256Hex(bytes));
  assert.equal(second, first);
  assert.equal(hashed, 1, "the second read is served from the memo");
  const memoLine = JSON.parse(await Deno.readTextFile(memo))[`raw:${path}`];
  assert.equal(memoLine.size, 4096);
  // Corrupt one byte, same size: the mtime changes, so the file is hashed again.
  const corrupted = bytes.slice();
  corrupted[100] = corrupted[100]! ^ 0xff;
  await new Promise((r) => setTimeout(r, 20));
  await Deno.writeFile(path, corrupted);
  const third = await Effect.runPromise(memoDigest(path, corrupted, "raw", digest, memo));
  assert.equal(hashed, 2);
  assert.equal(third, sha256Hex(corrupted));
  assert.notEqual(third, first);
});

/** A pid no process can have (above Linux's largest `pid_max`, 2^22). */
const DEAD_PID = 4_194_399;

Deno.test("a probe a killed run left is removed by the next run; a user's look-alikes are kept", async () => {
  const root = await Deno.makeTempDir({ prefix: "grood-probe-" });
  // What ensureWritable writes, as a kill between its write and its removal leaves it.
  const text = "grood write probe: removed when the check ends\n";
  const leftover = join(root, `.grood-write-probe-${DEAD_PID}-0123abcd`);
  await Deno.writeTextFile(leftover, text);
  // One of the earlier form (one zero byte), which grood wrote before.
  await Deno.writeFile(join(root, `.write-probe-${DEAD_PID}-0123abcd`), new Uint8Array(1));
  const users = {
    // Named like a probe but with other content: the user's.
    [`.grood-write-probe-${DEAD_PID}-89abcdef`]: "my notes",
    // A name that is not exactly a probe's.
    [`.grood-write-probe-${DEAD_PID}-0123abcd.txt`]: text,
    ".grood-write-probe-notes": text,
    [`grood-write-probe-${DEAD_PID}-0123abcd`]: text,
    // The earlier form's name with other content.
    [`.write-probe-${DEAD_PID}-89abcdef`]: "x",
    // The probe of a check still running (this process) is its own to remove.
    [`.grood-write-probe-${Deno.pid}-0123abcd`]: text,
  };
  for (const [name, content] of Object.entries(users)) {
    await Deno.writeTextFile(join(root, name), content);
  }
  // Old enough that a system without /proc takes the killed run for dead too.
  const dayAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
  for (const name of Deno.readDirSync(root)) {
    await Deno.utime(join(root, name.name), dayAgo, dayAgo);
  }
  await Effect.runPromise(ensureWritable(root));
  const left = [...Deno.readDirSync(root)].map((e) => e.name).sort();
  assert.deepEqual(left, Object.keys(users).sort(), "the leftover probes only are gone");
  for (const [name, content] of Object.entries(users)) {
    assert.equal(await Deno.readTextFile(join(root, name)), content, `${name} unchanged`);
  }
  // The benchmark folders' tidy removes one too (a probe left beside them in results/).
  await Deno.writeTextFile(leftover, text);
  await Deno.utime(leftover, dayAgo, dayAgo);
  const handled = await Effect.runPromise(recoverOutputFolder(join(root, "mnist")));
  assert.deepEqual(handled, [leftover]);
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).sort(), left);
});
