/**
 * The rule `deno task doc:lint` adds (`tasks/doc_lint_annotations.ts`): exported `Effect.fn`s
 * and Layers of the public API carry a type annotation.
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
  const found = unannotatedExports(root);
  const outside = found.filter((u) => !PENDING_ANNOTATION_FILES.includes(u.file));
  assert.deepEqual(outside, []);
  // Every allow-listed file still has something pending (else it must leave the list).
  for (const file of PENDING_ANNOTATION_FILES) {
    assert.ok(found.some((u) => u.file === file), `${file} has nothing pending`);
  }
});
