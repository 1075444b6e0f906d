/**
 * `deno task doc:lint`: `deno doc --lint` on every entry of `deno.json`'s `exports` (`mod.ts`,
 * `apps/serve/mod.ts`, …: every public symbol documented, with explicit types, and no public type
 * referring to a private one of ours), printing its diagnostics and exiting non-zero on any. The
 * entries are read from `deno.json`, so a new public entry is linted as soon as it is exported.
 *
 * Two kinds of diagnostic are dropped, both `private-type-ref`:
 * - to a type declared in a dependency (e.g. `Effect`, `TaggedError`, `Tensor`). Deno skips
 *   those for `npm:`/`jsr:` specifiers (denoland/deno#27364, fixed by #34339), but with
 *   `"nodeModulesDir": "manual"` a package resolves to a `file:` path under `node_modules/` and
 *   is linted as if it were ours. A referenced type counts as ours when the file of the
 *   diagnostic declares it at its top level or imports it from a relative path (`isOurName`);
 * - to a type that an entry of `exports` makes public (`publicTypeNames`): it is documented
 *   there. `deno doc` itself accepts a type another entry exports at its top level, but not one
 *   it files in a namespace (`Data.ImageSet` under `grood`), which another entry cannot name.
 *   A type of ours that no entry exports stays an error.
 *
 * Each namespace of `mod.ts` (`export * as Stages from "./lib/stages/mod.ts"`) has its own
 * entry (`grood/stages`) because `deno doc` lists no members for a namespace whose barrel
 * re-exports with named lists (`export { a, b } from "./x.ts"`): on `mod.ts` alone those members
 * are neither shown nor linted (deno 2.9.6).
 *
 * One rule is added (`doc_lint_annotations.ts`): every exported `Effect.fn` and Layer of the
 * public API (reached from any entry of `exports`) has an explicit type annotation, so `deno doc` shows its parameters, result,
 * errors and services rather than a bare `const`. Files on its temporary allow-list
 * (`PENDING_ANNOTATION_FILES`) are reported as pending and not counted; an allow-listed file
 * with nothing left to annotate is an error (take it off the list).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Schema } from "effect";
import {
  describeUnannotated,
  PENDING_ANNOTATION_FILES,
  publicNames,
  unannotatedExports,
} from "./doc_lint_annotations.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Whether `name`, as a type referenced from `source`, is one of ours: declared at the top level
 * of `source` (a local `const from` inside a function is not) or imported from a relative path.
 * A name imported from a package (`import type { Effect } from "effect"`), or a member of a
 * package's namespace (`tfType.Tensor`, which `deno doc` reports as `Tensor`), is a
 * dependency's: a file of ours declaring its own `Tensor` elsewhere does not make it ours.
 */
export function isOurName(source: string, name: string): boolean {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const declaration =
    /^(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:class|interface|type|enum|function\*?|const|let|var)\s+([A-Za-z_$][\w$]*)/gm;
  for (const match of code.matchAll(declaration)) if (match[1] === name) return true;
  const imports = /\bimport\s+(?:type\s+)?\{([^}]*)\}\s*from\s*["'](\.[^"']*)["']/g;
  for (const match of code.matchAll(imports)) {
    const locals = match[1]!.split(",").map((part) =>
      part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).at(-1)!.trim()
    );
    if (locals.includes(name)) return true;
  }
  return false;
}

/** The part of `deno.json` read here: its public entries (`"."` alone may be a string). */
const DenoJson = Schema.Struct({
  exports: Schema.Union([Schema.String, Schema.Record(Schema.String, Schema.String)]),
});

/**
 * The files of `deno.json`'s `exports`, relative to the root and without `./`
 * (`["mod.ts", "apps/serve/mod.ts"]`), in the order written, each once.
 */
export function exportEntries(denoJsonText: string): ReadonlyArray<string> {
  const { exports } = Schema.decodeUnknownSync(DenoJson)(JSON.parse(denoJsonText));
  const paths = typeof exports === "string" ? [exports] : Object.values(exports);
  return [...new Set(paths.map((path) => path.replace(/^\.\//, "")))];
}

/** The type names (`class`, `interface`, `type`, `enum`) a source declares with `export`. */
function exportedTypeDeclarations(source: string): ReadonlySet<string> {
  const declaration =
    /\bexport\s+(?:declare\s+)?(?:abstract\s+)?(?:class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/g;
  return new Set([...source.matchAll(declaration)].map((match) => match[1]!));
}

/**
 * Type names an entry of `entries` (paths relative to `root`) makes public, under any name or
 * namespace: a type declared with `export` in a file the entry re-exports with `export *`, or
 * one a re-export list names (`export { type A, B } from "./x.ts"`). Read by name from the
 * sources, like `isOurName`; a type exported by its file but left out of every barrel's list is
 * not public.
 */
export function publicTypeNames(root: string, entries: ReadonlyArray<string>): ReadonlySet<string> {
  const names = new Set<string>();
  for (const entry of entries) {
    for (const [file, listed] of publicNames(join(root, entry), { types: true })) {
      let source: string;
      try {
        source = Deno.readTextFileSync(file);
      } catch {
        continue;
      }
      for (const name of exportedTypeDeclarations(source)) {
        if (listed === "all" || listed.has(name)) names.add(name);
      }
    }
  }
  return names;
}

/** The file a diagnostic points at (its `-->` line), if any. */
export function diagnosticFile(diagnostic: Diagnostic): string | undefined {
  return /^\s*-->\s*(.+?):\d+:\d+\s*$/m.exec(diagnostic.text)?.[1];
}

/** One diagnostic of `deno doc --lint`: its header line and the lines under it. */
export interface Diagnostic {
  readonly header: string;
  readonly text: string;
}

/** Split `deno doc --lint` output (without colours) into diagnostics. */
export function parseDiagnostics(output: string): ReadonlyArray<Diagnostic> {
  const diagnostics: Array<Diagnostic> = [];
  let current: Array<string> | undefined;
  for (const line of output.split("\n")) {
    if (/^error\[[a-z-]+\]/.test(line)) {
      if (current !== undefined) {
        diagnostics.push({ header: current[0]!, text: current.join("\n") });
      }
      current = [line];
    } else if (/^error: Found \d+ documentation lint error/.test(line)) {
      break;
    } else if (current !== undefined && !/^(Warning|\s+at file:)/.test(line)) {
      current.push(line);
    }
  }
  if (current !== undefined) diagnostics.push({ header: current[0]!, text: current.join("\n") });
  return diagnostics;
}

/** The referenced type of a `private-type-ref` diagnostic (first segment of a dotted name). */
export function referencedType(diagnostic: Diagnostic): string | undefined {
  const match = /references private type '([^'.]+)/.exec(diagnostic.text);
  return match?.[1];
}

/** What `lintEntries` found: the diagnostics kept and how many of each kind were dropped. */
export interface DocLintResult {
  readonly kept: ReadonlyArray<Diagnostic>;
  /** `private-type-ref` to a dependency's type. */
  readonly dependencies: number;
  /** `private-type-ref` to a type another entry documents (`publicTypeNames`). */
  readonly documentedElsewhere: number;
}

/**
 * `deno doc --lint` on `entries` (relative to `root`, run there), keeping every diagnostic but
 * the two kinds of `private-type-ref` described in this module's doc.
 */
export async function lintEntries(
  root: string,
  entries: ReadonlyArray<string>,
): Promise<DocLintResult> {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...entries],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const documented = publicTypeNames(root, entries);
  let dependencies = 0;
  let documentedElsewhere = 0;
  const kept = parseDiagnostics(output).filter((d) => {
    if (!d.header.startsWith("error[private-type-ref]")) return true;
    const name = referencedType(d);
    const file = diagnosticFile(d);
    if (name === undefined || file === undefined) return true;
    // A diagnostic inside a package (`node_modules/vega-lite/…`) is about its own types.
    const inPackage = file.split(/[\\/]/).includes("node_modules");
    if (inPackage || !isOurName(Deno.readTextFileSync(file), name)) {
      dependencies += 1;
      return false;
    }
    if (documented.has(name)) {
      documentedElsewhere += 1;
      return false;
    }
    return true;
  });
  return { kept, dependencies, documentedElsewhere };
}

if (import.meta.main) {
  const entries = exportEntries(Deno.readTextFileSync(join(ROOT, "deno.json")));
  const { kept, dependencies, documentedElsewhere } = await lintEntries(ROOT, entries);
  for (const d of kept) console.error(d.text.trimEnd() + "\n");
  const notCounted = [
    ...(dependencies > 0 ? [`${dependencies} references to dependencies' types`] : []),
    ...(documentedElsewhere > 0
      ? [`${documentedElsewhere} references to types another entry documents`]
      : []),
  ];
  console.log(
    `deno doc --lint ${entries.join(" ")}: ${kept.length} error(s)` +
      (notCounted.length > 0 ? ` (not counted: ${notCounted.join(", ")})` : ""),
  );
  const unannotated = unannotatedExports(ROOT, entries);
  const pending = unannotated.filter((u) => PENDING_ANNOTATION_FILES.includes(u.file));
  const failing = unannotated.filter((u) => !PENDING_ANNOTATION_FILES.includes(u.file));
  const stale = PENDING_ANNOTATION_FILES.filter((f) => !pending.some((u) => u.file === f));
  for (const u of failing) console.error(`error[unannotated-export]: ${describeUnannotated(u)}`);
  for (const file of stale) {
    console.error(
      `error[stale-allow-list]: ${file} has no unannotated export left: remove it from ` +
        "PENDING_ANNOTATION_FILES (tasks/doc_lint_annotations.ts)",
    );
  }
  if (pending.length > 0) {
    console.log(
      `pending (PENDING_ANNOTATION_FILES, not counted):\n  ${
        pending.map(describeUnannotated).join("\n  ")
      }`,
    );
  }
  console.log(
    `exported Effect.fn and Layers without a type annotation: ${failing.length} error(s), ` +
      `${pending.length} pending, ${stale.length} stale allow-list entr${
        stale.length === 1 ? "y" : "ies"
      }`,
  );
  const errors = kept.length + failing.length + stale.length;
  Deno.exit(errors === 0 ? 0 : 1);
}
