/**
 * Data flows one way: a folder of `lib/` imports only folders below it in this order (and the
 * files directly in `lib/`, the bottom layer). A new folder must be placed in the order here.
 * The apps built on the library (`apps/`, the benchmark harness in `bench/`, the tasks in
 * `tasks/`) import it only through its public exports.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { importsOf } from "../lib/cache/imports.ts";

/** `lib/`'s folders from the bottom up; `.` stands for the files directly in `lib/`. */
export const LAYERS: ReadonlyArray<string> = [
  ".", // errors, random, matrix, decode: no grood imports
  "io", // atomic files, .npy, IDX, verified files
  "cache", // the stage cache and its keys
  "data", // image sets, datasets, the generated OOD sets
  "sources", // data sources of every kind (folders, .npy, IDX, CIFAR, ...)
  "benchmarks", // benchmark files: which sets, which model
  "compute", // the Compute service (tfjs and its backend, our kernels)
  "model", // grood's own classifier: build, train, save, load
  "models", // models of any kind behind one interface (grood CNN, ONNX, tfjs)
  "knn", // nearest-neighbour indexes
  "stages", // features, prototype, mix-up, gradient, score, evaluate
  "detectors", // GROOD and the baselines behind one interface, their registry
  "fitted", // fitted-detector folders: fit on any model and data, save, load, score
  "pipeline", // prepare a benchmark, run detectors, ablations, tables
  "report", // plots, notebook display, the results page, exports
];

const LIB = fileURLToPath(new URL("../lib/", import.meta.url));

/** The layer (a `LAYERS` entry) of a path under `lib/`. */
function layerOf(path: string, lib = LIB): string {
  const rel = relative(lib, path);
  const parts = rel.split("/");
  return parts.length === 1 ? "." : parts[0]!;
}

function* typescriptFiles(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* typescriptFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Every import that goes up the layer order or out of `lib/`, as readable lines. */
export function violations(lib = LIB): ReadonlyArray<string> {
  const problems: Array<string> = [];
  for (const file of typescriptFiles(lib)) {
    const from = layerOf(file, lib);
    const fromRank = LAYERS.indexOf(from);
    if (fromRank < 0) {
      problems.push(`lib/${from}/ is not in LAYERS (tests/layers_test.ts): place it there`);
      continue;
    }
    for (const specifier of importsOf(Deno.readTextFileSync(file))) {
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(lib)) {
        problems.push(`lib/${relative(lib, file)} imports ${specifier}, outside lib/`);
        continue;
      }
      const to = layerOf(target, lib);
      const toRank = LAYERS.indexOf(to);
      if (toRank > fromRank) {
        problems.push(
          `lib/${relative(lib, file)} (layer ${from}) imports ${specifier} (layer ${to}, above it)`,
        );
      }
    }
  }
  return [...new Set(problems)];
}

Deno.test("no folder of lib/ imports a folder above it", () => {
  assert.deepEqual(violations(), []);
});

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The folders of app code: they use the library as a user would, through its exports. */
export const APP_FOLDERS: ReadonlyArray<string> = ["apps", "bench", "tasks"];

/**
 * The modules an app may import from the checkout as the library: `mod.ts`, the barrels it
 * re-exports as namespaces (`export * as Knn from "./lib/knn/mod.ts"`) and every module of
 * `deno.json`'s `exports` (`grood/serve`), as paths relative to `root`.
 */
export function publicModules(root = ROOT): ReadonlySet<string> {
  const found = new Set(["mod.ts"]);
  const mod = Deno.readTextFileSync(join(root, "mod.ts"));
  for (const match of mod.matchAll(/export\s+\*\s+as\s+\w+\s+from\s+"\.\/([^"]+)"/g)) {
    found.add(match[1]!);
  }
  const exports = (JSON.parse(Deno.readTextFileSync(join(root, "deno.json"))) as {
    exports?: Record<string, string>;
  }).exports ?? {};
  for (const path of Object.values(exports)) found.add(relative(root, resolve(root, path)));
  return found;
}

/** Every import of app code (`APP_FOLDERS`) that reaches into `lib/` past the public exports. */
export function appViolations(root = ROOT): ReadonlyArray<string> {
  const lib = join(root, "lib") + "/";
  const allowed = publicModules(root);
  const problems: Array<string> = [];
  for (const folder of APP_FOLDERS) {
    let files: Array<string>;
    try {
      files = [...typescriptFiles(join(root, folder))];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    for (const file of files) {
      for (const specifier of importsOf(Deno.readTextFileSync(file))) {
        const target = resolve(dirname(file), specifier);
        if (target.startsWith(lib) && !allowed.has(relative(root, target))) {
          problems.push(
            `${relative(root, file)} imports ${specifier}: not a public export of the library`,
          );
        }
      }
    }
  }
  return [...new Set(problems)];
}

Deno.test("apps/, bench/ and tasks/ import the library only through its public exports", () => {
  // Not vacuous: each folder holds code that imports the library.
  for (const folder of APP_FOLDERS) {
    const files = [...typescriptFiles(join(ROOT, folder))];
    assert.ok(
      files.some((f) => importsOf(Deno.readTextFileSync(f)).some((s) => s.includes("mod.ts"))),
      `${folder}/ imports nothing through the barrels`,
    );
  }
  assert.ok(publicModules().has("lib/knn/mod.ts"));
  assert.ok(publicModules().has("apps/serve/mod.ts"));
  assert.deepEqual(appViolations(), []);
});

Deno.test("the apps check fails on a lib/ internal, a worker or dynamic import, a private barrel", () => {
  const root = Deno.makeTempDirSync({ prefix: "grood-apps-" });
  try {
    for (const folder of ["apps/a", "apps/serve", "bench/harness", "tasks", "lib/knn"]) {
      Deno.mkdirSync(join(root, folder), { recursive: true });
    }
    Deno.writeTextFileSync(join(root, "mod.ts"), 'export * as Knn from "./lib/knn/mod.ts";');
    Deno.writeTextFileSync(
      join(root, "deno.json"),
      JSON.stringify({ exports: { ".": "./mod.ts", "./serve": "./apps/serve/mod.ts" } }),
    );
    Deno.writeTextFileSync(
      join(root, "apps/a/ok.ts"),
      'import { x } from "../../mod.ts";\nimport { y } from "../../lib/knn/mod.ts";\n' +
        'import { z } from "../serve/mod.ts";\nimport "../../tasks/t.ts";',
    );
    assert.deepEqual(appViolations(root), []);
    Deno.writeTextFileSync(
      join(root, "bench/harness/bad.ts"),
      'import { searchStats } from "../../lib/knn/exact.ts";\n' +
        'new Worker(new URL("../../lib/knn/worker.ts", import.meta.url));',
    );
    Deno.writeTextFileSync(
      join(root, "tasks/t.ts"),
      'const s = await import("../lib/stages/mod.ts");\nimport type { M } from "../lib/matrix.ts";',
    );
    assert.deepEqual([...appViolations(root)].sort(), [
      "bench/harness/bad.ts imports ../../lib/knn/exact.ts: not a public export of the library",
      "bench/harness/bad.ts imports ../../lib/knn/worker.ts: not a public export of the library",
      "tasks/t.ts imports ../lib/matrix.ts: not a public export of the library",
      "tasks/t.ts imports ../lib/stages/mod.ts: not a public export of the library",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("every folder of lib/ has its place in the layer order", () => {
  const folders = [...Deno.readDirSync(LIB)].filter((e) => e.isDirectory).map((e) => e.name);
  assert.deepEqual(folders.filter((f) => !LAYERS.includes(f)), []);
  assert.deepEqual(LAYERS.filter((l) => l !== "." && !folders.includes(l)), []);
});

Deno.test("the import parser sees every form of import, and not doc examples", () => {
  const source = [
    'import { a } from "../knn/mod.ts";',
    'import type { B } from "./b.ts";',
    'export { c } from "../report/c.ts";',
    'export * from "./d.ts";',
    'import * as e from "../e.ts";',
    'const f = await import("../pipeline/f.ts");',
    'new Worker(new URL("./g.ts", import.meta.url).href);',
    'import {\n  h,\n  type H,\n} from "../h.ts";',
    '/**\n * import { x } from "../report/mod.ts";\n */',
    '// import { y } from "../report/y.ts";',
    'import "npm:effect";',
  ].join("\n");
  assert.deepEqual([...importsOf(source)].sort(), [
    "../e.ts",
    "../h.ts",
    "../knn/mod.ts",
    "../pipeline/f.ts",
    "../report/c.ts",
    "./b.ts",
    "./d.ts",
    "./g.ts",
  ]);
});

Deno.test("the layer check fails on an import up the order, a new folder, an escape", () => {
  const lib = Deno.makeTempDirSync({ prefix: "grood-layers-" }) + "/";
  try {
    for (const folder of ["stages", "pipeline", "new"]) Deno.mkdirSync(join(lib, folder));
    Deno.writeTextFileSync(join(lib, "pipeline/run.ts"), 'import { x } from "../stages/a.ts";');
    assert.deepEqual(violations(lib), []);
    Deno.writeTextFileSync(
      join(lib, "stages/a.ts"),
      'import type { Run } from "../pipeline/run.ts";\nimport "../../tasks/t.ts";',
    );
    Deno.writeTextFileSync(join(lib, "new/s.ts"), "");
    assert.deepEqual([...violations(lib)].sort(), [
      "lib/new/ is not in LAYERS (tests/layers_test.ts): place it there",
      "lib/stages/a.ts (layer stages) imports ../pipeline/run.ts (layer pipeline, above it)",
      "lib/stages/a.ts imports ../../tasks/t.ts, outside lib/",
    ]);
  } finally {
    Deno.removeSync(lib, { recursive: true });
  }
});

Deno.test("no source file of lib/, apps/, bench/ or tasks/ is over 400 lines", () => {
  const MAX_LINES = 400;
  const files = ["lib", ...APP_FOLDERS].flatMap((folder) => [
    ...typescriptFiles(join(ROOT, folder)),
  ]);
  assert.ok(files.length > 100, `only ${files.length} files found`);
  const long = files
    .map((file) => ({ file: relative(ROOT, file), lines: Deno.readTextFileSync(file).split("\n") }))
    // A file's last newline ends its last line; it starts none.
    .map(({ file, lines }) => ({
      file,
      count: lines.at(-1) === "" ? lines.length - 1 : lines.length,
    }))
    .filter(({ count }) => count > MAX_LINES)
    .map(({ file, count }) => `${file}: ${count} lines`);
  assert.deepEqual(long, []);
});
