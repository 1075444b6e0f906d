/**
 * A cached stage's code version is derived from the static import closure of its modules:
 * editing any file of the closure changes it, editing any other file does not, and a file a
 * stage comes to import is covered without a list to update.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importClosure, importsOf } from "../lib/cache/imports.ts";
import { computeStageVersion, STAGE_ROOTS, stageSources, stageVersion } from "../lib/cache/key.ts";

const LIB = fileURLToPath(new URL("../lib/", import.meta.url));

function* files(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield path;
  }
}

/** A copy of `lib/` in a temporary folder (removed by the caller), as a folder URL. */
function copyOfLib(): { readonly dir: string; readonly url: URL } {
  const dir = Deno.makeTempDirSync({ prefix: "grood-stage-sources-" });
  for (const file of files(LIB)) {
    const target = join(dir, relative(LIB, file));
    Deno.mkdirSync(dirname(target), { recursive: true });
    Deno.copyFileSync(file, target);
  }
  return { dir, url: pathToFileURL(dir + "/") };
}

const versionAt = (stage: string, lib: URL) => Effect.runSync(computeStageVersion(stage, lib));
const sourcesAt = (stage: string, lib: URL) => Effect.runSync(stageSources(stage, lib));

Deno.test("each stage's version changes with every file of its import closure, and no other", () => {
  const { dir, url } = copyOfLib();
  try {
    const all = [...files(dir)].map((file) => relative(dir, file)).sort();
    for (const stage of Object.keys(STAGE_ROOTS)) {
      const closure = sourcesAt(stage, url);
      // The closure is the roots plus what they import: more than the roots, all in lib/.
      for (const root of STAGE_ROOTS[stage]!) assert.ok(closure.includes(root), root);
      assert.ok(closure.length > STAGE_ROOTS[stage]!.length, `${stage}: ${closure}`);
      const original = versionAt(stage, url);
      assert.equal(original, stageVersion(stage), `${stage}: the copy versions as lib/ does`);
      for (const file of closure) {
        const path = join(dir, file);
        const text = Deno.readTextFileSync(path);
        Deno.writeTextFileSync(path, text + "\n// edited\n");
        assert.notEqual(versionAt(stage, url), original, `${stage}: editing ${file}`);
        Deno.writeTextFileSync(path, text);
      }
      assert.equal(versionAt(stage, url), original, `${stage}: every edit undone`);
      // Every file outside the closure edited at once: the version stays.
      const outside = all.filter((file) => !closure.includes(file));
      assert.ok(outside.length > 0, `${stage}: some of lib/ is outside its closure`);
      const saved = outside.map((file) => [file, Deno.readFileSync(join(dir, file))] as const);
      for (const [file, bytes] of saved) {
        Deno.writeFileSync(join(dir, file), new Uint8Array([...bytes, 10, 10]));
      }
      assert.equal(versionAt(stage, url), original, `${stage}: files outside its closure`);
      for (const [file, bytes] of saved) Deno.writeFileSync(join(dir, file), bytes);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a file a stage comes to import is in its version without being listed", () => {
  const { dir, url } = copyOfLib();
  try {
    const stage = "descriptors";
    const root = join(dir, STAGE_ROOTS[stage]![1]!);
    const helper = join(dirname(root), "new_helper.ts");
    Deno.writeTextFileSync(helper, "export const factor = 2;\n");
    const before = versionAt(stage, url);
    assert.ok(!sourcesAt(stage, url).some((f) => f.endsWith("new_helper.ts")));
    Deno.writeTextFileSync(
      root,
      'import { factor } from "./new_helper.ts";\n' + Deno.readTextFileSync(root) +
        "\nexport const doubled = factor * 2;\n",
    );
    const withImport = versionAt(stage, url);
    assert.notEqual(withImport, before);
    assert.ok(sourcesAt(stage, url).some((f) => f.endsWith("new_helper.ts")));
    Deno.writeTextFileSync(helper, "export const factor = 3;\n");
    assert.notEqual(versionAt(stage, url), withImport, "editing the new import");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("every stage the library caches has roots that reach the module caching it", () => {
  const cachedAt = new Map<string, Array<string>>();
  for (const file of files(LIB)) {
    if (!file.endsWith(".ts")) continue;
    const text = Deno.readTextFileSync(file);
    for (const m of text.matchAll(/\.cached\(\s*"([^"]+)"/g)) {
      cachedAt.set(m[1]!, [...(cachedAt.get(m[1]!) ?? []), relative(LIB, file)]);
    }
  }
  assert.ok(cachedAt.size >= 4, `found the cached stages: ${[...cachedAt.keys()]}`);
  for (const [stage, callers] of cachedAt) {
    assert.ok(stage in STAGE_ROOTS, `stage "${stage}" has roots in STAGE_ROOTS`);
    const closure = Effect.runSync(stageSources(stage));
    for (const caller of callers) assert.ok(closure.includes(caller), `${stage}: ${caller}`);
    assert.ok(!stageVersion(stage).startsWith("process-"), `${stage} is versioned by content`);
  }
});

Deno.test("sources that cannot be read give a typed error naming the file, and a one-process version", () => {
  const empty = Deno.makeTempDirSync({ prefix: "grood-no-lib-" });
  try {
    const exit = Effect.runSyncExit(computeStageVersion("features", pathToFileURL(empty + "/")));
    assert.equal(exit._tag, "Failure");
    assert.match(String(exit), /StageSourcesUnreadable/);
    assert.match(String(exit), /readfile .*\/(pipeline|stages)\/\w+\.ts/);
  } finally {
    Deno.removeSync(empty, { recursive: true });
  }
  const unknown = Effect.runSyncExit(computeStageVersion("no-such-stage"));
  assert.match(String(unknown), /no roots in STAGE_ROOTS/);
  // Not reusable by another process, and stable within this one.
  assert.match(stageVersion("no-such-stage"), new RegExp(`^process-${Deno.pid}-`));
  assert.equal(stageVersion("no-such-stage"), stageVersion("no-such-stage"));
});

Deno.test("the import reader is not fooled by comment markers in strings", () => {
  const source = [
    'const glob = "computer/*.png";',
    'import { a } from "./a.ts";',
    'const end = "*/";',
    'const w = new Worker(new URL("./w.ts", import.meta.url));',
    "/* a block comment */",
    'x(); /* import "./counted-not-hidden.ts" */',
  ].join("\n");
  assert.deepEqual([...importsOf(source)].sort(), [
    "./a.ts",
    "./counted-not-hidden.ts",
    "./w.ts",
  ]);
  // A closure follows workers and dynamic imports as well.
  const dir = Deno.makeTempDirSync({ prefix: "grood-closure-" });
  try {
    Deno.writeTextFileSync(join(dir, "root.ts"), 'const m = await import("./b.ts");');
    Deno.writeTextFileSync(
      join(dir, "b.ts"),
      'new Worker(new URL("./c.ts", import.meta.url));\nexport {};',
    );
    Deno.writeTextFileSync(join(dir, "c.ts"), 'import type { D } from "./d.ts";');
    Deno.writeTextFileSync(join(dir, "d.ts"), "export type D = 1;");
    Deno.writeTextFileSync(join(dir, "unrelated.ts"), "export {};");
    const closure = importClosure([pathToFileURL(join(dir, "root.ts"))])
      .map((u) => relative(dir, fileURLToPath(u)));
    assert.deepEqual(closure, ["b.ts", "c.ts", "d.ts", "root.ts"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
