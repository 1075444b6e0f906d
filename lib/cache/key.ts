/**
 * Cache keys: a stable JSON form of a stage's inputs, and each stage's code version derived from
 * the content of the source files that compute it (the import closure of the stage's modules,
 * read at run time), so a code change can never serve an output of the old code (no version
 * number to bump, no file list to keep up by hand).
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
 * The modules (relative to `lib/`) each cached stage is computed by: the module that caches it
 * (its codec and key parts) and the stage modules that compute it. A stage's code version
 * covers everything these reach through their imports ({@link stageSources}), so a file a
 * stage comes to depend on is covered without being listed here.
 */
export const STAGE_ROOTS: Readonly<Record<string, ReadonlyArray<string>>> = {
  // pipeline/model.ts builds the extraction of every model kind that extract.ts caches.
  features: [
    "pipeline/extract.ts",
    "pipeline/model.ts",
    "stages/features.ts",
  ],
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

/**
 * The source files (relative to `lib`, sorted) whose code decides `stage`'s output: the static
 * import closure of its {@link STAGE_ROOTS}.
 */
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

/**
 * The code version of `stage` computed afresh from the sources under `lib`: sha256 over each
 * file of {@link stageSources} with its content's sha256.
 */
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

/** A thrown read error with its path (Deno's message names the file that is missing). */
const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause);

const versions = new Map<string, string>();

/**
 * The code version of `stage` ({@link computeStageVersion}, once a process). A stage not in
 * {@link STAGE_ROOTS}, or whose sources cannot be read (e.g. a bundled build, or `lib/` not on
 * a file system), gets a version unique to this process, so its entries are never reused by
 * another run: safe, only slower.
 */
export function stageVersion(stage: string): string {
  const known = versions.get(stage);
  if (known !== undefined) return known;
  const version = Effect.runSync(
    computeStageVersion(stage).pipe(
      Effect.orElseSucceed(() => `process-${Deno.pid}-${crypto.randomUUID()}`),
    ),
  );
  versions.set(stage, version);
  return version;
}

/** The cache key of a stage output: sha256 of the stage, its code version and its inputs. */
export function stageKey(stage: string, parts: unknown): string {
  return hashJson({ stage, version: stageVersion(stage), parts });
}
