/**
 * Cache keys: a stable JSON form of a stage's inputs, and each stage's code version hashed from
 * the source files that compute it (the import closure of its modules, read at run time), so a
 * code change never serves an output of the old code, with no version number to bump.
 *
 * @module
 */
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Data, Effect } from "effect";
import { sha256Hex } from "../io/files.ts";
import { importClosure } from "./imports.ts";

/**
 * Stable JSON (object keys sorted, `undefined` members dropped), so equal parts give equal keys.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./key.ts";
 * if (canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) !== '{"a":[2,{"c":4,"d":3}],"b":1}') {
 *   throw new Error("not canonical");
 * }
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON of a value. */
export const hashJson = (value: unknown): string =>
  sha256Hex(new TextEncoder().encode(canonicalJson(value)));

/**
 * The modules (relative to `lib/`) that cache and compute each stage; its code version covers
 * everything they import ({@link stageSources}), so a new dependency needs no listing here.
 */
export const STAGE_ROOTS: Readonly<Record<string, ReadonlyArray<string>>> = {
  // pipeline/model.ts builds the extraction of every model kind that extract.ts caches.
  features: ["pipeline/extract.ts", "pipeline/model.ts", "stages/features.ts"],
  prototypes: ["detectors/grood.ts", "stages/prototype.ts"],
  "ood-prototype": ["detectors/grood.ts", "stages/mixup.ts"],
  descriptors: ["detectors/grood.ts", "stages/gradient.ts"],
};

/** `lib/` of this checkout (where the stage modules are read from). */
export const LIB: URL = new URL("../", import.meta.url);

/** A stage's sources cannot be read: not in {@link STAGE_ROOTS}, or a module is missing. */
export class StageSourcesUnreadable extends Data.TaggedError("StageSourcesUnreadable")<{
  readonly stage: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot version stage "${this.stage}" from its sources: ${this.problem}`;
  }
}

/** The source files (relative to `lib`, sorted) of `stage`: the import closure of its roots. */
export const stageSources = (
  stage: string,
  lib: URL = LIB,
): Effect.Effect<ReadonlyArray<string>, StageSourcesUnreadable> => {
  const roots = STAGE_ROOTS[stage];
  if (roots === undefined) {
    return Effect.fail(
      new StageSourcesUnreadable({ stage, problem: "it has no roots in STAGE_ROOTS" }),
    );
  }
  return Effect.try({
    try: () =>
      importClosure(roots.map((root) => new URL(root, lib)))
        .map((url) => relative(fileURLToPath(lib), fileURLToPath(url))),
    catch: (cause) => new StageSourcesUnreadable({ stage, problem: describe(cause) }),
  });
};

/** The code version of `stage`: sha256 over each file of {@link stageSources} and its sha256. */
export const computeStageVersion = (
  stage: string,
  lib: URL = LIB,
): Effect.Effect<string, StageSourcesUnreadable> =>
  Effect.flatMap(stageSources(stage, lib), (files) =>
    Effect.try({
      try: () => {
        const lines = files.map((file) =>
          `${file}:${sha256Hex(Deno.readFileSync(new URL(file, lib)))}`
        );
        return sha256Hex(new TextEncoder().encode(lines.join("\n")));
      },
      catch: (cause) => new StageSourcesUnreadable({ stage, problem: describe(cause) }),
    }));

/** A thrown read error (Deno's message names the missing file). */
const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause);

const versions = new Map<string, string>();

/**
 * The code version of `stage`, computed once a process. Sources that cannot be read (a bundled
 * build) give a version unique to this process: its entries are never reused, safe but slower.
 */
export function stageVersion(stage: string): string {
  if (!versions.has(stage)) {
    versions.set(
      stage,
      Effect.runSync(Effect.orElseSucceed(
        computeStageVersion(stage),
        () => `process-${Deno.pid}-${crypto.randomUUID()}`,
      )),
    );
  }
  return versions.get(stage)!;
}

/** The cache key of a stage output: sha256 of the stage, its code version and its inputs. */
export function stageKey(stage: string, parts: unknown): string {
  return hashJson({ stage, version: stageVersion(stage), parts });
}
