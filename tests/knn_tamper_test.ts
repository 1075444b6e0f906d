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
import { loadWithPipeAt } from "./named_pipe.ts";

Deno.test("a named pipe in place of index.json or of the points is refused, not read", async () => {
  for (const file of ["index.json", "points.npy"]) {
    const dir = await Deno.makeTempDir({ prefix: "grood-knn-tamper-" });
    const points = matrix(4, 2, Float32Array.from([0, 0, 1, 0, 0, 1, 1, 1]));
    const index = await Effect.runPromise(exactIndex(points, { name: "four points" }));
    await Effect.runPromise(saveIndex(index, dir));
    index.dispose();
    const { result: exit, opened } = await loadWithPipeAt(
      join(dir, file),
      () => Effect.runPromiseExit(loadIndex(dir)),
    );
    assert.equal(opened, false, `${file}: the pipe was opened`);
    assert.equal(exit._tag, "Failure", file);
    assert.match(String(exit), /named pipe, not a regular file/, file);
    assert.match(String(exit), new RegExp(file.replace(".", "\\.")), file);
    await Deno.remove(dir, { recursive: true });
  }
});
