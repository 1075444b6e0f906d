/**
 * Data flows one way: a folder of `lib/` imports only folders below it in this order (and the
 * files directly in `lib/`, the bottom layer). A new folder must be placed in the order here.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** `lib/`'s folders from the bottom up; `.` stands for the files directly in `lib/`. */
export const LAYERS: ReadonlyArray<string> = [
  ".", // errors, random, matrix, decode: no grood imports
  "io", // atomic files, .npy, IDX, verified files
  "cache", // the stage cache and its keys
  "data", // image sets, datasets, the generated OOD sets
  "sources", // data sources of every kind (folders, .npy, IDX, CIFAR, ...)
  "benchmarks", // benchmark files: which sets, which model
  "compute", // the Compute service (tfjs and its backend, our kernels)
  "model", // grood's own classifier: build, train, save, load, predict
  "models", // models of any kind behind one interface (grood CNN, ONNX, tfjs)
  "knn", // nearest-neighbour indexes
  "stages", // features, prototype, mix-up, gradient, score, evaluate
  "detectors", // GROOD and the baselines behind one interface, their registry
  "fitted", // fitted-detector folders: fit on any model and data, save, load, score
  "pipeline", // prepare a benchmark, run detectors, ablations, tables
  "report", // plots, notebook display, the results page, exports
  "bench", // measurements of `deno task bench`
  "serve", // the HTTP scoring service and its page
  "cli", // command lines of the tasks
];

const LIB = fileURLToPath(new URL("../lib/", import.meta.url));

/** Relative specifiers a module imports: static, type-only, re-exports, dynamic, workers. */
export function importsOf(source: string): ReadonlyArray<string> {
  const found: Array<string> = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /\bnew\s+URL\s*\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url/g,
  ];
  // Doc comments hold runnable examples importing `./mod.ts`: not imports of the module.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

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

const APPS = fileURLToPath(new URL("../apps/", import.meta.url));
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Imports of `apps/` that reach past the library's public exports: an app may import files of
 * its own folder, the root `mod.ts` and the `mod.ts` barrels of `lib/`, nothing else of the
 * checkout (not `lib/` internals, not `tasks/`, not another app).
 */
export function appViolations(apps = APPS, root = ROOT): ReadonlyArray<string> {
  const problems: Array<string> = [];
  let folders: Array<string>;
  try {
    folders = [...Deno.readDirSync(apps)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
  for (const app of folders) {
    for (const file of typescriptFiles(join(apps, app))) {
      for (const specifier of importsOf(Deno.readTextFileSync(file))) {
        const target = resolve(dirname(file), specifier);
        const own = target.startsWith(join(apps, app) + "/");
        const rel = relative(root, target);
        const publicBarrel = rel === "mod.ts" || /^lib\/[^/]+\/mod\.ts$/.test(rel);
        if (!own && !publicBarrel) {
          problems.push(`${relative(root, file)} imports ${specifier}: not a public export`);
        }
      }
    }
  }
  return problems;
}

Deno.test("apps/ import the library only through its public mod.ts barrels", () => {
  assert.deepEqual(appViolations(), []);
});

Deno.test("the apps check fails on an import of a lib/ internal, a task, another app", () => {
  const root = Deno.makeTempDirSync({ prefix: "grood-apps-" }) + "/";
  try {
    for (const folder of ["apps/a", "apps/b", "lib/knn", "tasks"]) {
      Deno.mkdirSync(join(root, folder), { recursive: true });
    }
    Deno.writeTextFileSync(
      join(root, "apps/a/ok.ts"),
      'import { x } from "../../mod.ts";\nimport { y } from "../../lib/knn/mod.ts";\n' +
        'import { z } from "./own.ts";',
    );
    assert.deepEqual(appViolations(join(root, "apps"), root), []);
    Deno.writeTextFileSync(
      join(root, "apps/a/bad.ts"),
      'import { x } from "../../lib/knn/exact.ts";\nimport "../../tasks/score.ts";\n' +
        'import { b } from "../b/b.ts";',
    );
    assert.deepEqual([...appViolations(join(root, "apps"), root)].sort(), [
      "apps/a/bad.ts imports ../../lib/knn/exact.ts: not a public export",
      "apps/a/bad.ts imports ../../tasks/score.ts: not a public export",
      "apps/a/bad.ts imports ../b/b.ts: not a public export",
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
