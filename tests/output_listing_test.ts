/**
 * The output rules' file listing: a folder grood wrote as a unit lists its entries in its
 * marker, and nothing else is deleted when it is replaced. Each case is a hole a probe found
 * (a user's file deleted or overwritten, a folder of another kind replaced, a write inside a
 * fitted folder); each fails on the rules before the listing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import {
  checkOutputFile,
  checkOutputFolder,
  checkOutputRoot,
  OUTPUT_MARKER,
  prepareOutputRoot,
  writeOutputFolder,
} from "../lib/io/output_folder.ts";
import { loadWithPipeAt } from "./named_pipe.ts";

const flip = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect));
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect);
const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/** `dir` written as a unit of `kind` holding `a.txt` and `sub/b.txt`. */
const unit = (dir: string, kind = "test output") =>
  run(writeOutputFolder(dir, { kind }, (tmp) =>
    Effect.promise(async () => {
      await Deno.writeTextFile(join(tmp, "a.txt"), "1");
      await Deno.mkdir(join(tmp, "sub"));
      await Deno.writeTextFile(join(tmp, "sub", "b.txt"), "2");
    })));

Deno.test("the marker of a unit lists every entry it held", async () => {
  const dir = await Deno.makeTempDir();
  await unit(join(dir, "out"));
  const marker = JSON.parse(await Deno.readTextFile(join(dir, "out", OUTPUT_MARKER)));
  assert.equal(marker.writtenBy, "grood");
  assert.equal(marker.kind, "test output");
  assert.deepEqual(marker.files, ["a.txt", "sub", "sub/b.txt"]);
});

Deno.test("a file added to a folder grood wrote is never deleted: refused before and at the swap", async () => {
  const dir = await Deno.makeTempDir();
  const out = join(dir, "out");
  await unit(out);
  // At the top and inside a listed folder.
  for (const added of ["notes.txt", "sub/notes.txt"]) {
    await Deno.writeTextFile(join(out, added), "mine");
    const early = await flip(checkOutputFolder(out, { kind: "test output" }));
    assert.match(early.message, new RegExp(`files grood did not write there \\("${added}"\\)`));
    let filled = false;
    const late = await flip(
      writeOutputFolder(out, { kind: "test output" }, () =>
        Effect.sync(() => {
          filled = true;
        })),
    );
    assert.equal(late._tag, "OutputFolderRefused");
    assert.equal(filled, false, "refused before the task computed anything");
    assert.equal(await Deno.readTextFile(join(out, added)), "mine");
    await Deno.remove(join(out, added));
  }
  // Without additions the folder is replaced whole, as before.
  await run(
    writeOutputFolder(
      out,
      { kind: "test output" },
      (tmp) => Effect.promise(() => Deno.writeTextFile(join(tmp, "c.txt"), "3")),
    ),
  );
  assert.deepEqual(names(out), [OUTPUT_MARKER, "c.txt"]);
  assert.deepEqual(names(dir), ["out"]);
});

Deno.test("a folder from before the marker keeps what this run does not write again", async () => {
  const dir = await Deno.makeTempDir();
  const old = join(dir, "det");
  await Deno.mkdir(old);
  await Deno.writeTextFile(join(old, "detector.json"), "{}");
  await Deno.writeTextFile(join(old, "notes.txt"), "mine");
  const rules = { kind: "fitted detector", recognise: ["detector.json"] };
  const error = await flip(
    writeOutputFolder(
      old,
      rules,
      (tmp) => Effect.promise(() => Deno.writeTextFile(join(tmp, "detector.json"), "{}")),
    ),
  );
  assert.match(error.message, /holds files this run does not write .*"notes\.txt"/);
  assert.deepEqual(names(old), ["detector.json", "notes.txt"]);
  assert.deepEqual(names(dir), ["det"], "the temporary folder is removed");
  // The same folder without the user's file is replaced.
  await Deno.remove(join(old, "notes.txt"));
  await run(
    writeOutputFolder(
      old,
      rules,
      (tmp) => Effect.promise(() => Deno.writeTextFile(join(tmp, "detector.json"), "{}")),
    ),
  );
  assert.deepEqual(names(old), [OUTPUT_MARKER, "detector.json"]);
});

Deno.test("a marker that is not grood's, or of another kind, does not make a folder replaceable", async () => {
  const dir = await Deno.makeTempDir();
  const out = join(dir, "out");
  await Deno.mkdir(out);
  await Deno.writeTextFile(join(out, "keep.txt"), "mine");
  for (const marker of ["", "{}", '{"writtenBy":"grood"}', "not json"]) {
    await Deno.writeTextFile(join(out, OUTPUT_MARKER), marker);
    const error = await flip(checkOutputFolder(out, { kind: "test output" }));
    assert.match(error.message, /marker is not one grood wrote/, marker);
  }
  await Deno.remove(join(out, OUTPUT_MARKER));
  await unit(join(dir, "other"), "benchmark results");
  const error = await flip(checkOutputFolder(join(dir, "other"), { kind: "fitted detector" }));
  assert.match(error.message, /grood wrote it as a benchmark results, not a fitted detector/);
  // A folder that collects units is not replaced by one: its units are not this run's. Refused
  // before the task computes (it was refused at the swap only, after the work).
  const root = join(dir, "root");
  await run(prepareOutputRoot(root, { kind: "fitted detector" }));
  await unit(join(root, "a"), "fitted detector");
  let filled = false;
  const replaced = await flip(
    writeOutputFolder(root, { kind: "fitted detector" }, () =>
      Effect.sync(() => {
        filled = true;
      })),
  );
  assert.match(replaced.message, /it collects folders grood wrote, each a fitted detector \("a"\)/);
  assert.equal(filled, false, "refused before the task computed anything");
  assert.deepEqual(names(join(root, "a")), [OUTPUT_MARKER, "a.txt", "sub"]);
  // The root still collects units; a file of the user's in it is refused at the swap.
  await run(prepareOutputRoot(root, { kind: "fitted detector" }));
  const mixed = join(dir, "mixed");
  await run(prepareOutputRoot(mixed, { kind: "test output" }));
  await Deno.writeTextFile(join(mixed, "notes.txt"), "mine");
  const late = await flip(writeOutputFolder(mixed, { kind: "test output" }, () => Effect.void));
  assert.match(late.message, /holds files this run does not write/);
  assert.equal(await Deno.readTextFile(join(mixed, "notes.txt")), "mine");
});

Deno.test("units and roots whose markers list no files (written before the lists) are told apart", async () => {
  const dir = await Deno.makeTempDir();
  const oldMarker = (kind: string) =>
    JSON.stringify({ writtenBy: "grood", kind, date: "2026-12-06T22:00:00.000Z" }) + "\n";
  // An old unit (its model copy a folder without a marker) is replaced as before.
  const det = join(dir, "det");
  await Deno.mkdir(join(det, "model"), { recursive: true });
  await Deno.writeTextFile(join(det, OUTPUT_MARKER), oldMarker("fitted detector"));
  await Deno.writeTextFile(join(det, "detector.json"), "old");
  await Deno.writeTextFile(join(det, "model", "model.json"), "old");
  await run(
    writeOutputFolder(det, { kind: "fitted detector" }, (tmp) =>
      Effect.promise(async () => {
        await Deno.writeTextFile(join(tmp, "detector.json"), "new");
        await Deno.mkdir(join(tmp, "model"));
        await Deno.writeTextFile(join(tmp, "model", "model.json"), "new");
      })),
  );
  assert.equal(await Deno.readTextFile(join(det, "detector.json")), "new");
  // An old root of old units is a root: refused as a unit, accepted as a root.
  const root = join(dir, "root");
  for (const folder of [root, join(root, "msp"), join(root, "energy")]) {
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeTextFile(join(folder, OUTPUT_MARKER), oldMarker("fitted detector"));
  }
  const error = await flip(checkOutputFolder(root, { kind: "fitted detector" }));
  assert.match(error.message, /each a fitted detector \("energy", "msp"\)/);
  await run(checkOutputRoot(root, { kind: "fitted detector" }));
  // Each old unit in it is still one.
  await run(checkOutputFolder(join(root, "msp"), { kind: "fitted detector" }));
});

Deno.test("nothing is written inside a folder grood wrote as a whole; inside a root it is", async () => {
  const dir = await Deno.makeTempDir();
  const det = join(dir, "det");
  await unit(det);
  const folder = await flip(
    writeOutputFolder(join(det, "sub", "new"), { kind: "test output" }, () => Effect.void),
  );
  assert.match(folder.message, /lies inside ".*det", a test output grood wrote as a whole/);
  const file = await flip(checkOutputFile(join(det, "scores.csv"), { inputs: [] }));
  assert.match(file.message, /lies inside ".*det"/);
  assert.deepEqual(names(det), [OUTPUT_MARKER, "a.txt", "sub"]);
  const root = join(dir, "results");
  await run(prepareOutputRoot(root, { kind: "results" }));
  await unit(join(root, "mnist"), "benchmark results");
  await run(checkOutputFile(join(root, "report.html"), { inputs: [] }));
});

Deno.test("a folder grood made only to hold an output collects any task's outputs; a user's stays theirs", async () => {
  const dir = await Deno.makeTempDir();
  // `grood ablate` (results/ablations), then `grood reproduce` (results): results/ was made by
  // the first as a root of its own kind, and refused by the second.
  const ablated = join(dir, "a", "results");
  await run(prepareOutputRoot(join(ablated, "ablations"), { kind: "ablation results" }));
  await run(checkOutputFolder(ablated, { kind: "results" }));
  await run(prepareOutputRoot(ablated, { kind: "results" }));
  await unit(join(ablated, "mnist"), "benchmark results");
  // `grood notebooks` (a unit: results/notebooks), then `grood reproduce`: results/ had no
  // marker at all.
  const executed = join(dir, "b", "results");
  await unit(join(executed, "notebooks"), "executed notebooks");
  await run(checkOutputFolder(executed, { kind: "results" }));
  await run(prepareOutputRoot(executed, { kind: "results" }));
  assert.deepEqual(names(executed), [OUTPUT_MARKER, "notebooks"]);
  // A user's folder that a unit is written in gets no marker: it is still refused as a whole.
  const mine = join(dir, "mine");
  await Deno.mkdir(mine);
  await Deno.writeTextFile(join(mine, "thesis.txt"), "years of work");
  await unit(join(mine, "notebooks"), "executed notebooks");
  assert.deepEqual(names(mine), ["notebooks", "thesis.txt"]);
  const error = await flip(checkOutputFolder(mine, { kind: "results" }));
  assert.match(error.message, /holds files grood did not write/);
});

Deno.test("an existing file is replaced only when overwrite is asked for", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "scores.csv");
  await run(checkOutputFile(path, { inputs: [] }));
  await Deno.writeTextFile(path, "a user's table");
  const error = await flip(checkOutputFile(path, { inputs: [] }));
  assert.match(error.message, /it exists; give --overwrite to replace it/);
  await run(checkOutputFile(path, { inputs: [], overwrite: true }));
  assert.equal(await Deno.readTextFile(path), "a user's table", "a check writes nothing");
});

Deno.test("a marker that is a named pipe is refused as a problem, not waited on", async () => {
  // Reading it would wait for a writer forever; here the harness's writer would hand a reader
  // the unit's own marker, and a check that read it would let the folder be replaced.
  const base = await Deno.makeTempDir();
  const dir = join(base, "out");
  await unit(dir);
  const { result: error, opened } = await loadWithPipeAt(
    join(dir, OUTPUT_MARKER),
    () => flip(checkOutputFolder(dir, { kind: "test output" })),
  );
  assert.equal(opened, false, "the pipe was opened");
  assert.equal(error._tag, "OutputFolderRefused");
  assert.match(error.message, /it is a named pipe, not a regular file/);
  await Deno.remove(base, { recursive: true });
});
