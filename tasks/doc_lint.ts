/**
 * `deno task doc:lint`: `deno doc --lint mod.ts` (every public symbol documented, with explicit
 * types, and no public type referring to a private one of ours), printing its diagnostics and
 * exiting non-zero on any.
 *
 * One kind of diagnostic is dropped: `private-type-ref` whose referenced type is declared in a
 * dependency (e.g. `Effect`, `TaggedError`, `Tensor`). Deno skips those for `npm:`/`jsr:`
 * specifiers (denoland/deno#27364, fixed by #34339), but with `"nodeModulesDir": "manual"` a
 * package resolves to a `file:` path under `node_modules/` and is linted as if it were ours.
 * A referenced type counts as ours when any file of `lib/` or `mod.ts` declares that name, so
 * a type of ours that is not exported is still an error.
 *
 * One rule is added (`doc_lint_annotations.ts`): every exported `Effect.fn` and Layer of the
 * public API has an explicit type annotation, so `deno doc` shows its parameters, result,
 * errors and services rather than a bare `const`. Files on its temporary allow-list
 * (`PENDING_ANNOTATION_FILES`) are reported as pending and not counted; an allow-listed file
 * with nothing left to annotate is an error (take it off the list).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  describeUnannotated,
  PENDING_ANNOTATION_FILES,
  unannotatedExports,
} from "./doc_lint_annotations.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Names declared (exported or not) by our own sources. */
function ourNames(): ReadonlySet<string> {
  const names = new Set<string>();
  const visit = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) visit(path);
      else if (entry.name.endsWith(".ts")) {
        // Import lists (`import { type Effect } from "effect"`) declare nothing of ours.
        const source = Deno.readTextFileSync(path).replace(/\bimport\s[^;]*?from\s*"[^"]*";/g, "");
        const declaration =
          /\b(?:class|interface|type|enum|function\*?|const|let|var)\s+([A-Za-z_$][\w$]*)/g;
        for (const match of source.matchAll(declaration)) names.add(match[1]!);
      }
    }
  };
  visit(join(ROOT, "lib"));
  return names;
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

if (import.meta.main) {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const ours = ourNames();
  const all = parseDiagnostics(output);
  const kept = all.filter((d) => {
    if (!d.header.startsWith("error[private-type-ref]")) return true;
    const name = referencedType(d);
    return name === undefined || ours.has(name);
  });
  for (const d of kept) console.error(d.text.trimEnd() + "\n");
  const dropped = all.length - kept.length;
  console.log(
    `deno doc --lint mod.ts: ${kept.length} error(s)` +
      (dropped > 0 ? ` (${dropped} references to dependencies' types not counted)` : ""),
  );
  const unannotated = unannotatedExports(ROOT);
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
