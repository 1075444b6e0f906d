/**
 * OOD set manifests (`fixtures/ood/<set>.json`), read strictly: each pins a set's sha256, Debian
 * package versions and source files; and the failures of reading one or of a set not matching.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import type { Expect, SameFields } from "../../decode.ts";
import { readOptionalJson } from "../../io/json_file.ts";

/** Role of an OOD set: scored in a benchmark (`test`) or used for tuning (`validation`). */
export const OodRole: Schema.Literals<readonly ["test", "validation"]> = Schema.Literals([
  "test",
  "validation",
]);
/** Role of an OOD set: scored in a benchmark (`test`) or used for tuning (`validation`). */
export type OodRole = typeof OodRole.Type;

/** A Debian package a set was built from. */
const SourcePackageSchema = Schema.Struct({ name: Schema.String, version: Schema.String });
/** A Debian package a set was built from. */
export interface SourcePackage {
  /** Debian package name. */
  readonly name: string;
  /** Its version, as `apt-get download` fetched it. */
  readonly version: string;
}
type _SourcePackageMatchesSchema = Expect<
  SameFields<SourcePackage, typeof SourcePackageSchema.Type>
>;

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/** Contents of `fixtures/ood/<set>.json`, decoded strictly (an unknown key is refused). */
const OodManifestSchema = Schema.Struct({
  name: Schema.String,
  role: OodRole,
  count: Count,
  dims: Schema.Array(Count),
  sha256: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/))),
  sourcePackages: Schema.Array(SourcePackageSchema),
  sources: Schema.Array(Schema.String),
  recipe: Schema.Record(Schema.String, Schema.Unknown),
  createdWith: Schema.String,
});
/** Contents of `fixtures/ood/<set>.json`. */
export interface OodManifest {
  /** The set's name. */
  readonly name: string;
  /** Scored in a benchmark (`test`) or used for tuning (`validation`). */
  readonly role: OodRole;
  /** Number of images. */
  readonly count: number;
  /** IDX dimensions (count, height, width). */
  readonly dims: ReadonlyArray<number>;
  /** sha256 (hex) of the raw IDX file. */
  readonly sha256: string;
  /** The Debian packages the set was built from. */
  readonly sourcePackages: ReadonlyArray<SourcePackage>;
  /** Source files used, relative to `.data/src/` (first segment = package name). */
  readonly sources: ReadonlyArray<string>;
  /** Seed and every parameter of the recipe, plus counts of what was dropped and why. */
  readonly recipe: { readonly [key: string]: unknown };
  /** What built it (library and versions). */
  readonly createdWith: string;
}
type _OodManifestMatchesSchema = Expect<SameFields<OodManifest, typeof OodManifestSchema.Type>>;

/** A built set's file no longer matches its manifest (damaged or replaced since built). */
export class OodSetCorrupt extends Data.TaggedError("OodSetCorrupt")<{
  readonly set: string;
  readonly path: string;
  readonly expected: string;
  readonly actual: string;
}> {
  /** Names the set, its file and both checksums, and how to rebuild it. */
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
  /** Names the set and the missing manifest, and how to create it. */
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
  /** Names the manifest file and the problem. */
  override get message(): string {
    return `Cannot read OOD manifest "${this.path}": ${this.problem}`;
  }
}

/**
 * Read a manifest; undefined when the file does not exist. One that cannot be read or is not a
 * manifest fails with {@link OodManifestInvalid} naming it and every problem.
 */
export const readManifest = (
  path: string,
): Effect.Effect<OodManifest | undefined, OodManifestInvalid> =>
  readOptionalJson(OodManifestSchema, path, (problem) => new OodManifestInvalid({ path, problem }));
