/**
 * A saved k-NN index with a named pipe in place of `index.json` or of its points (helper b21's
 * probe): `loadIndex` opened the pipe and waited for a writer forever. It is refused, naming the
 * file, before anything opens it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import { exactIndex, loadIndex, saveIndex } from "../lib/knn/mod.ts";
import { matrix } from "../lib/matrix.ts";

Deno.test("a named pipe in place of index.json or of the points is refused, not read", async () => {
  for (const file of ["index.json", "points.npy"]) {
    const dir = await Deno.makeTempDir({ prefix: "grood-knn-tamper-" });
    const points = matrix(4, 2, Float32Array.from([0, 0, 1, 0, 0, 1, 1, 1]));
    const index = await Effect.runPromise(exactIndex(points, { name: "four points" }));
    await Effect.runPromise(saveIndex(index, dir));
    index.dispose();
    const path = join(dir, file);
    const bytes = await Deno.readFile(path);
    await Deno.remove(path);
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.equal(made.code, 0);
    // A writer that hands the pipe the file's own bytes if anything opens it to read: a loader
    // that reads the pipe gets the right content (and loads); one that checks first never opens
    // it, and the writer is released by a reader of the test's own.
    let read = false;
    let released = false;
    const writer = Deno.open(path, { write: true }).then(async (pipe) => {
      if (!released) {
        read = true;
        await pipe.write(bytes);
      }
      pipe.close();
    });
    const exit = await Effect.runPromiseExit(loadIndex(dir));
    if (!read) {
      released = true;
      const own = await Deno.open(path, { read: true });
      await writer;
      own.close();
    }
    await writer;
    assert.equal(read, false, `${file}: the pipe was opened`);
    assert.equal(exit._tag, "Failure", file);
    assert.match(String(exit), /named pipe, not a regular file/, file);
    assert.match(String(exit), new RegExp(file.replace(".", "\\.")), file);
    await Deno.remove(dir, { recursive: true });
  }
});
