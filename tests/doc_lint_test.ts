/**
 * The rule `deno task doc:lint` adds (`tasks/doc_lint_annotations.ts`): exported `Effect.fn`s
 * and Layers of the public API carry a type annotation; and how it reads its entries
 * (`deno.json`'s `exports`) and which `private-type-ref` diagnostics it does not count.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  PENDING_ANNOTATION_FILES,
  publicNames,
  reExportsOf,
  unannotatedExports,
  unannotatedIn,
} from "../tasks/doc_lint_annotations.ts";
import {
  diagnosticFile,
  exportEntries,
  isOurName,
  lintEntries,
  parseDiagnostics,
  publicTypeNames,
} from "../tasks/doc_lint.ts";

Deno.test("unannotatedIn() flags an exported Effect.fn or Layer without a type, not one with", () => {
  const source = [
    'export const bare = Effect.fn("bare")(function* () {});',
    'export const typed: () => Effect.Effect<void> = Effect.fn("typed")(function* () {});',
    "export const untraced =",
    "  Effect.fnUntraced(function* () {});",
    "export const LiveLayer = Layer.succeed(Tag, {});",
    "export const typedLayer: Layer.Layer<Tag> = Layer.succeed(Tag, {});",
    'const privateFn = Effect.fn("private")(function* () {});',
    "export class Service {",
    "  static layer = Layer.succeed(Service, {});",
    "  static readonly typedLayer: Layer.Layer<Service> = Layer.succeed(Service, {});",
    "}",
  ].join("\n");
  assert.deepEqual(unannotatedIn(source), [
    { line: 1, name: "bare", kind: "Effect.fn" },
    { line: 3, name: "untraced", kind: "Effect.fn" },
    { line: 5, name: "LiveLayer", kind: "Layer" },
    { line: 9, name: "layer", kind: "Layer" },
  ]);
});

Deno.test("reExportsOf() reads named, star and namespace re-exports, skipping types", () => {
  const source = [
    '/** `export { x } from "./commented.ts"` in a comment is no re-export. */',
    'export { a, type B, c as d } from "./one.ts";',
    'export * from "./two.ts";',
    'export * as Three from "./three/mod.ts";',
    'export type { E } from "./four.ts";',
    'import { f } from "./five.ts";',
  ].join("\n");
  assert.deepEqual(reExportsOf(source), [
    { specifier: "./two.ts", names: "all" },
    { specifier: "./three/mod.ts", names: "all" },
    { specifier: "./one.ts", names: ["a", "c"] },
    { specifier: "./four.ts", names: [] },
  ]);
});

Deno.test("publicNames() follows mod.ts through the barrels, by name", () => {
  const root = new URL("../", import.meta.url).pathname;
  const names = publicNames(join(root, "mod.ts"));
  const run = names.get(join(root, "lib/pipeline/run.ts"));
  assert.ok(run !== undefined && run !== "all");
  assert.ok(run.has("prepareBenchmark"));
  // Exported by run.ts but not re-exported by the pipeline barrel: not public.
  assert.ok(!run.has("withModelDefaults"));
  // The benchmark harness is not part of the library's public API.
  assert.equal(names.get(join(root, "bench/harness/run.ts")), undefined);
});

Deno.test("the repository has no unannotated public Effect.fn or Layer outside the allow-list", () => {
  const root = new URL("../", import.meta.url).pathname;
  const entries = exportEntries(Deno.readTextFileSync(join(root, "deno.json")));
  const found = unannotatedExports(root, entries);
  const outside = found.filter((u) => !PENDING_ANNOTATION_FILES.includes(u.file));
  assert.deepEqual(outside, []);
  // Every allow-listed file still has something pending (else it must leave the list).
  for (const file of PENDING_ANNOTATION_FILES) {
    assert.ok(found.some((u) => u.file === file), `${file} has nothing pending`);
  }
});

Deno.test("exportEntries() reads deno.json's exports, a map or a single string, each once", () => {
  const map = JSON.stringify({
    exports: { ".": "./mod.ts", "./serve": "./apps/serve/mod.ts", "./again": "./mod.ts" },
  });
  assert.deepEqual(exportEntries(map), ["mod.ts", "apps/serve/mod.ts"]);
  assert.deepEqual(exportEntries(JSON.stringify({ exports: "./mod.ts" })), ["mod.ts"]);
  assert.throws(() => exportEntries(JSON.stringify({ exports: 3 })));
  // The repository's own deno.json: the library and the HTTP service.
  const root = new URL("../", import.meta.url).pathname;
  const entries = exportEntries(Deno.readTextFileSync(join(root, "deno.json")));
  assert.ok(entries.includes("mod.ts") && entries.includes("apps/serve/mod.ts"));
});

Deno.test("every namespace of mod.ts is an entry of deno.json's exports, and the import map", () => {
  // `deno doc` lists no members for a namespace whose barrel re-exports by name, so only an
  // entry of its own gets the barrel's members shown and linted.
  const root = new URL("../", import.meta.url).pathname;
  const denoJson = Deno.readTextFileSync(join(root, "deno.json"));
  const entries = exportEntries(denoJson);
  const imports = (JSON.parse(denoJson) as { imports: Record<string, string> }).imports;
  const mod = Deno.readTextFileSync(join(root, "mod.ts"));
  const barrels = [...mod.matchAll(/export\s+\*\s+as\s+\w+\s+from\s+"\.\/([^"]+)"/g)]
    .map((m) => m[1]!);
  assert.ok(barrels.length >= 13, `${barrels.length} namespaces`);
  for (const barrel of barrels) {
    assert.ok(entries.includes(barrel), `${barrel} is not an entry of deno.json's exports`);
    assert.ok(Object.values(imports).includes(`./${barrel}`), `${barrel} has no grood/… import`);
  }
});

/** Write `files` (path relative to a new temporary folder → text) and return the folder. */
function toyRepository(files: Readonly<Record<string, string>>): string {
  const root = Deno.makeTempDirSync({ prefix: "grood-doc-lint-" });
  for (const [path, text] of Object.entries(files)) {
    Deno.mkdirSync(join(root, path, ".."), { recursive: true });
    Deno.writeTextFileSync(join(root, path), text);
  }
  return root;
}

Deno.test("reExportsOf() with types reads type names too", () => {
  const source = 'export { a, type B } from "./one.ts";\nexport type { C as D } from "./two.ts";';
  assert.deepEqual(reExportsOf(source, { types: true }), [
    { specifier: "./one.ts", names: ["a", "B"] },
    { specifier: "./two.ts", names: ["C"] },
  ]);
});

Deno.test("publicTypeNames() holds the types an entry re-exports, not those its barrels leave out", () => {
  const root = toyRepository({
    "mod.ts": 'export * as X from "./lib/x/mod.ts";\n',
    "lib/x/mod.ts": 'export { type Listed, make } from "./impl.ts";\nexport * from "./all.ts";\n',
    "lib/x/impl.ts": [
      'export { type Hidden as Again } from "./hidden.ts";',
      "export interface Listed {}",
      "export interface Unlisted {}",
      "export class Error2 {}",
      "export function make(): Listed { return {}; }",
    ].join("\n"),
    "lib/x/hidden.ts": "export interface Hidden {}\n",
    "lib/x/all.ts": "export type Whole = number;\ninterface Local {}\n",
  });
  try {
    const names = publicTypeNames(root, ["mod.ts"]);
    assert.deepEqual([...names].sort(), ["Listed", "Whole"]);
    // The repository's own entries: types filed under a namespace of `grood` count.
    const repo = new URL("../", import.meta.url).pathname;
    const ours = publicTypeNames(repo, ["mod.ts"]);
    for (const name of ["ImageSet", "FittedDetector", "Classifier", "Compute"]) {
      assert.ok(ours.has(name), name);
    }
    assert.ok(!ours.has("ServedDetector")); // declared in apps/serve, not reached from mod.ts
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("lintEntries() reports a barrel member without JSDoc and a type no entry exports", async () => {
  const root = toyRepository({
    "deno.json": "{}\n",
    "mod.ts": [
      "/** The toy. @module */",
      'export * as X from "./lib/x/mod.ts";',
      'export * as Y from "./lib/y/mod.ts";',
    ].join("\n"),
    "lib/x/mod.ts": '/** X. @module */\nexport { documented, undocumented } from "./impl.ts";\n',
    // Its module doc on several lines: with a one-line `/** Y. @module */` (and a blank line
    // after it) deno 2.9.6 reported the namespace `Y` of mod.ts as undocumented.
    "lib/y/mod.ts": "/**\n * Y.\n *\n * @module\n */\n\n/** A shape. */\n" +
      "export interface Shape {\n  /** Sides. */\n  n: number;\n}\n",
    "lib/x/impl.ts": [
      'import type { Shape } from "../y/mod.ts";',
      "/** Not exported by any entry. */",
      "export interface Hidden {",
      "  /** Sides. */",
      "  n: number;",
      "}",
      "/** Documented. */",
      "export function documented(shape: Shape, hidden: Hidden): number {",
      "  return shape.n + hidden.n;",
      "}",
      "export function undocumented(): number {",
      "  return 1;",
      "}",
    ].join("\n"),
  });
  try {
    // With the barrel of X as an entry: its member without JSDoc, and `Hidden`, which no entry
    // exports. `Shape` is documented under `Y` by the entry `mod.ts`: deno doc reports it (a
    // namespaced type), the filter drops it.
    const result = await lintEntries(root, ["mod.ts", "lib/x/mod.ts"]);
    assert.deepEqual(
      result.kept.map((d) => `${d.header.replace(/:.*/, "")} ${diagnosticFile(d)}`).sort(),
      [
        `error[missing-jsdoc] ${join(root, "lib/x/impl.ts")}`,
        `error[private-type-ref] ${join(root, "lib/x/impl.ts")}`,
      ],
    );
    assert.ok(result.kept.some((d) => d.text.includes("export function undocumented")));
    assert.ok(result.kept.some((d) => d.text.includes("'Hidden'")));
    assert.equal(result.documentedElsewhere, 1);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("isOurName() tells a type of ours from a dependency's, in the scope of one file", () => {
  const source = [
    'import type * as tfType from "@tensorflow/tfjs";',
    'import { type Effect, Schema } from "effect";',
    'import { type Matrix, matrix as makeMatrix } from "../matrix.ts";',
    'import type { Head as ModelHead } from "./head.ts";',
    "/** `type Commented = 1` in a comment declares nothing. */",
    "type Tf = typeof tfType;",
    "export interface Shape {}",
    "export function run(): void {",
    "  const from = 1;",
    "}",
  ].join("\n");
  for (const name of ["Tf", "Shape", "run", "Matrix", "makeMatrix", "ModelHead"]) {
    assert.ok(isOurName(source, name), name);
  }
  // Imported from a package, a member of a package's namespace, a local, a comment.
  for (const name of ["Effect", "Schema", "Tensor", "from", "Commented", "Head"]) {
    assert.ok(!isOurName(source, name), name);
  }
});

Deno.test("diagnosticFile() reads the file a diagnostic points at", () => {
  const output = [
    "error[private-type-ref]: public type 'X' references private type 'Y'",
    "  --> /repo/apps/serve/x.ts:12:3",
    "   |",
    "error[missing-jsdoc]: exported symbol is missing JSDoc documentation",
    "error: Found 2 documentation lint errors.",
  ].join("\n");
  const [first, second] = parseDiagnostics(output);
  assert.equal(diagnosticFile(first!), "/repo/apps/serve/x.ts");
  assert.equal(diagnosticFile(second!), undefined);
});

Deno.test("unannotatedExports() follows every entry given, each finding once", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(join(root, "apps"));
    Deno.writeTextFileSync(join(root, "mod.ts"), 'export { shared } from "./shared.ts";\n');
    Deno.writeTextFileSync(
      join(root, "apps/mod.ts"),
      'export { appLayer } from "./app.ts";\nexport { shared } from "../shared.ts";\n',
    );
    Deno.writeTextFileSync(join(root, "shared.ts"), "export const shared = Layer.empty;\n");
    Deno.writeTextFileSync(join(root, "apps/app.ts"), "export const appLayer = Layer.empty;\n");
    assert.deepEqual(unannotatedExports(root).map((u) => u.name), ["shared"]);
    assert.deepEqual(
      unannotatedExports(root, ["mod.ts", "apps/mod.ts"]).map((u) => `${u.file} ${u.name}`),
      ["apps/app.ts appLayer", "shared.ts shared"],
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
