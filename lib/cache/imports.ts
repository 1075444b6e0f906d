/**
 * The static import graph of grood's own source, read from its text: what a module imports
 * ({@link importsOf}) and what roots reach ({@link importClosure}), for the stage cache's code
 * versions and the layering test. It errs on seeing too much: type-only, re-exports, dynamic
 * imports and workers count, and only comments that start a line are skipped (a comment after
 * code, or code quoted in a string, can only add a module, never hide one).
 *
 * @example
 * ```ts
 * import { importsOf } from "./imports.ts";
 * const found = importsOf('import type { A } from "./a.ts";\nconst b = await import("../b.ts");');
 * if (found.join() !== "./a.ts,../b.ts") throw new Error(`read ${found}`);
 * ```
 *
 * @module
 */

const PATTERNS = [
  // import / export … from "./x.ts", import "./x.ts", import type …, export * from …
  /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/g,
  // await import("./x.ts")
  /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  // new Worker(new URL("./x.ts", import.meta.url))
  /\bnew\s+URL\s*\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url/g,
];

/** Relative specifiers a module imports (doc comments' examples and line comments are not). */
export function importsOf(source: string): ReadonlyArray<string> {
  const code = source
    .replace(/^[ \t]*\/\*[\s\S]*?\*\//gm, "")
    .replace(/^[ \t]*\/\/.*$/gm, "");
  const found: Array<string> = [];
  for (const pattern of PATTERNS) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

/**
 * Every module reachable from `roots` through {@link importsOf}, roots included, sorted. A
 * module that cannot be read throws; only `.ts` and `.js` modules are read for imports.
 */
export function importClosure(roots: ReadonlyArray<URL>): ReadonlyArray<URL> {
  const seen = new Map<string, URL>();
  const pending = [...roots];
  while (pending.length > 0) {
    const url = pending.pop()!;
    if (seen.has(url.href)) continue;
    seen.set(url.href, url);
    if (!/\.[jt]s$/.test(url.pathname)) continue;
    const source = Deno.readTextFileSync(url);
    for (const specifier of importsOf(source)) pending.push(new URL(specifier, url));
  }
  return [...seen.values()].sort((a, b) => (a.href < b.href ? -1 : a.href > b.href ? 1 : 0));
}
