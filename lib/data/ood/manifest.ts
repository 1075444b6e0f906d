/**
 * OOD set manifests (`fixtures/ood/<set>.json`, committed) and the shapes every set builder
 * shares: what a builder returns, the build context, and the typed failures of a build.
 *
 * A manifest pins a set: the sha256 of the IDX file a build must reproduce byte for byte, the
 * Debian package versions it came from and every source file used (so tests can check that
 * validation and test sets share no source).
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import { decodeJsonText, problemsText } from "../../decode.ts";
import { osReason, writeJsonAtomic } from "../../io/files.ts";
import { type DebianSource, listFiles } from "../sources.ts";

/** Role of an OOD set: scored in a benchmark (`test`) or used for tuning (`validation`). */
export const OodRole = Schema.Literals(["test", "validation"]);
/** Role of an OOD set: scored in a benchmark (`test`) or used for tuning (`validation`). */
export type OodRole = typeof OodRole.Type;

/** A Debian package a set was built from. */
export const SourcePackage = Schema.Struct({ name: Schema.String, version: Schema.String });
/** A Debian package a set was built from. */
export type SourcePackage = typeof SourcePackage.Type;

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/**
 * Contents of `fixtures/ood/<set>.json`: grood's own format, decoded strictly (an unknown key
 * is refused by name).
 */
export const OodManifest = Schema.Struct({
  name: Schema.String,
  role: OodRole,
  count: Count,
  dims: Schema.Array(Count),
  /** sha256 (hex) of the raw IDX file. */
  sha256: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/))),
  sourcePackages: Schema.Array(SourcePackage),
  /** Source files used, relative to `.data/src/` (first segment = package name). */
  sources: Schema.Array(Schema.String),
  /** Seed and every parameter of the recipe, plus counts of what was dropped and why. */
  recipe: Schema.Record(Schema.String, Schema.Unknown),
  createdWith: Schema.String,
});
/** Contents of `fixtures/ood/<set>.json`. */
export type OodManifest = typeof OodManifest.Type;

/** What a set builder produces, before it is written and checked. */
export interface BuiltSet {
  /** `count` images of 28×28 uint8, image-major. */
  readonly images: Uint8Array;
  readonly count: number;
  readonly sources: ReadonlyArray<string>;
  readonly packages: ReadonlyArray<DebianSource>;
  readonly recipe: Readonly<Record<string, unknown>>;
}

/** Where a builder finds its inputs and reports progress. */
export interface BuildContext {
  /** Root of downloads and extracted packages (`.data`). */
  readonly dataDir: string;
  /** Logs a step (one line each), through the loggers of the build's context. */
  readonly log: (line: string) => void;
}

/** A built set differs from its manifest: names the set and both checksums. */
export class OodSetMismatch extends Data.TaggedError("OodSetMismatch")<{
  readonly set: string;
  readonly expected: string;
  readonly actual: string;
  readonly detail: string;
}> {
  override get message(): string {
    return `OOD set "${this.set}" does not match its manifest: sha256 ${this.actual}, ` +
      `manifest says ${this.expected}. ${this.detail}`;
  }
}

/**
 * A built set's file no longer matches its manifest when loaded (damaged or replaced since it
 * was built): names the set, its file and both checksums.
 */
export class OodSetCorrupt extends Data.TaggedError("OodSetCorrupt")<{
  readonly set: string;
  readonly path: string;
  readonly expected: string;
  readonly actual: string;
}> {
  override get message(): string {
    return `OOD set "${this.set}" is corrupt: "${this.path}" has sha256 ${this.actual}, its ` +
      `manifest records ${this.expected}; rebuild it with: deno task data`;
  }
}

/** A set has no manifest yet: names the set and how to create one. */
export class OodManifestMissing extends Data.TaggedError("OodManifestMissing")<{
  readonly set: string;
  readonly path: string;
}> {
  override get message(): string {
    return `OOD set "${this.set}" has no manifest at "${this.path}"; build it once with ` +
      `--update-manifests and commit the manifest`;
  }
}

/** A manifest file exists but cannot be read or parsed: names the file. */
export class OodManifestInvalid extends Data.TaggedError("OodManifestInvalid")<{
  readonly path: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot read OOD manifest "${this.path}": ${this.problem}`;
  }
}

/** A set came out smaller than its target size: names the set and both counts. */
export class OodSetTooSmall extends Data.TaggedError("OodSetTooSmall")<{
  readonly set: string;
  readonly count: number;
  readonly minCount: number;
}> {
  override get message(): string {
    return `OOD set "${this.set}" has ${this.count} images, fewer than its target ` +
      `${this.minCount}; add sources or crops`;
  }
}

/** A source file could not be read or decoded: names the set and the file. */
export class OodSourceFailed extends Data.TaggedError("OodSourceFailed")<{
  readonly set: string;
  readonly path: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot build OOD set "${this.set}" from "${this.path}": ${this.problem}`;
  }
}

/**
 * Read a manifest; undefined when the file does not exist. A file that cannot be read, is not
 * JSON or is not a manifest (a missing, unknown or mistyped key) fails with
 * {@link OodManifestInvalid} naming it and every problem.
 */
export const readManifest = (
  path: string,
): Effect.Effect<OodManifest | undefined, OodManifestInvalid> =>
  Effect.tryPromise({
    try: () =>
      Deno.readTextFile(path).catch((error) => {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }),
    catch: (error) =>
      new OodManifestInvalid({ path, problem: `cannot read it (${osReason(error)})` }),
  }).pipe(
    Effect.flatMap((text) =>
      text === undefined ? Effect.succeed(undefined) : decodeJsonText(OodManifest, path)(text).pipe(
        Effect.mapError((error) => new OodManifestInvalid({ path, problem: problemsText(error) })),
      )
    ),
  );

/** Write a manifest (pretty JSON, atomic). */
export const writeManifest = (
  path: string,
  manifest: OodManifest,
): Effect.Effect<void, OodManifestInvalid> =>
  Effect.tryPromise({
    try: () => writeJsonAtomic(path, manifest),
    catch: (error) => new OodManifestInvalid({ path, problem: `cannot write: ${String(error)}` }),
  });

/** Read a source file, failing with a typed error that names the set and the file. */
export const readSource = (set: string, path: string): Effect.Effect<Uint8Array, OodSourceFailed> =>
  Effect.tryPromise({
    try: () => Deno.readFile(path),
    catch: (error) => new OodSourceFailed({ set, path, problem: String(error) }),
  });

/** List a source folder's files, failing with a typed error that names the set and the folder. */
export const listSource = (
  set: string,
  dir: string,
): Effect.Effect<ReadonlyArray<string>, OodSourceFailed> =>
  Effect.tryPromise({
    try: () => listFiles(dir),
    catch: (error) => new OodSourceFailed({ set, path: dir, problem: osReason(error) }),
  });

/** The `{name, version}` list of a manifest, from the extracted packages. */
export function packageList(packages: ReadonlyArray<DebianSource>): SourcePackage[] {
  return packages.map((p) => ({ name: p.name, version: p.version }));
}
