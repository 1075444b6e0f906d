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
