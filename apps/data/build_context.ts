/**
 * What every OOD set builder shares: what a builder returns, the build context, the typed
 * failures of a build, and reading its sources.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { osReason } from "../../lib/io/mod.ts";
import type { SourcePackage } from "../../lib/data/mod.ts";
import { type DebianSource, listFiles } from "./debian.ts";

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
