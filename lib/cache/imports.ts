/**
 * The static import graph of grood's own source, read from the source text without running it:
 * the relative specifiers a module imports ({@link importsOf}) and every module a set of root
 * modules reaches through them ({@link importClosure}). The stage cache versions each stage by
 * the closure of the modules that compute it; the layering test reads imports with the same
 * reader.
 *
 * The reader errs on the side of seeing too much: type-only imports, re-exports, dynamic
 * imports with a literal specifier and workers (`new URL("./w.ts", import.meta.url)`) all
 * count, and only comments that start a line are skipped (a comment after code on the same
 * line, or code quoted in a string, can only add a module, never hide one).
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

/**
 * Relative specifiers a module imports: static, type-only, re-exports, dynamic, workers. Doc
 * comments (whose runnable examples import `./mod.ts`) and line comments are not imports.
 */
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
 * Every module reachable from `roots` (URLs) through {@link importsOf}, roots included, as
 * URLs sorted by their text. A module that cannot be read throws (the caller decides what a
 * missing source means); only `.ts` and `.js` modules are read for further imports.
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
