/**
 * The build of the offline OOD sets (`deno task data`): each set that is missing or stale is
 * built from its Debian packages, checked against its committed manifest, and written with its
 * contact sheet. The registry, the manifests and the checked loads are the library's
 * (`Data.oodSets`, `Data.loadOodSet`); the builders are here, beside the command that runs them.
 *
 * @module
 */
import { Effect } from "effect";
import {
  type CorruptDataset,
  type DatasetFileMissing,
  encodeIdx,
  exists,
  type IoError,
  readIdx,
  sha256Hex,
  tryIo,
  writeFileAtomic,
  writeJsonAtomic,
} from "../../lib/io/mod.ts";
import { lineLogger } from "../../mod.ts";
import {
  OOD_SET_NAMES,
  type OodManifest,
  OodManifestInvalid,
  OodManifestMissing,
  type OodSetName,
  oodSets,
  projectPath,
  readManifest,
} from "../../lib/data/mod.ts";
import {
  type BuildContext,
  type BuiltSet,
  OodSetMismatch,
  OodSetTooSmall,
  type OodSourceFailed,
  packageList,
} from "./build_context.ts";
import { contactSheet } from "./contact.ts";
import type { SourceDownloadFailed, SourceExtractFailed } from "./debian.ts";
import { SIDE } from "./geometry.ts";
import { buildLetters } from "./letters.ts";
import { buildObjects } from "./objects.ts";
import { buildPhotos } from "./photos.ts";
import { buildTextures } from "./textures.ts";

/** Options of {@link buildOodSets}. */
export interface BuildOodSetsOptions {
  /** Only these sets (default: all). */
  readonly only?: ReadonlyArray<OodSetName>;
  /** Rebuild and (re)write the manifests instead of checking against them. */
  readonly updateManifests?: boolean;
}

/** What happened to one set. */
export interface OodSetReport {
  readonly name: OodSetName;
  readonly status: "skipped" | "built";
  readonly count: number;
  /** Wall time of this set's work (a shared build counts for the first set it produced). */
  readonly seconds: number;
}

/** Failures of {@link buildOodSets}. */
export type BuildOodSetsError =
  | SourceDownloadFailed
  | SourceExtractFailed
  | OodSourceFailed
  | OodSetMismatch
  | OodManifestMissing
  | OodManifestInvalid
  | OodSetTooSmall
  | DatasetFileMissing
  | CorruptDataset
  | IoError;

type Builder = (
  ctx: BuildContext,
) => Effect.Effect<
  Partial<Record<OodSetName, BuiltSet>>,
  SourceDownloadFailed | SourceExtractFailed | OodSourceFailed
>;

/** Which builder makes which sets (letters/letters-val and textures/-val share one pass). */
const BUILDERS: ReadonlyArray<{ file: string; sets: OodSetName[]; build: Builder }> = [
  { file: "letters.ts", sets: ["letters", "letters-val"], build: buildLetters },
  { file: "textures.ts", sets: ["textures", "textures-val"], build: buildTextures },
  { file: "objects.ts", sets: ["objects"], build: buildObjects },
  { file: "photos.ts", sets: ["photos"], build: buildPhotos },
];

const CREATED_WITH = "grood apps/data (opentype.js 2.0.0, fast-png 8.0.0, jpeg-js 0.4.4)";

const fileIo = <A>(path: string, f: () => Promise<A>) => tryIo(path, "access", f);

/** sha256 of a file, or undefined when it does not exist. */
const hashFile = (path: string) =>
  fileIo(path, async () => (await exists(path)) ? sha256Hex(await Deno.readFile(path)) : undefined);

/** Write a manifest (pretty JSON, atomic). */
const writeManifest = (
  path: string,
  manifest: OodManifest,
): Effect.Effect<void, OodManifestInvalid> =>
  Effect.tryPromise({
    try: () => writeJsonAtomic(path, manifest),
    catch: (error) => new OodManifestInvalid({ path, problem: `cannot write: ${String(error)}` }),
  });

/** Explain a mismatch: package versions or counts that differ from the manifest. */
function mismatchDetail(manifest: OodManifest, built: BuiltSet): string {
  const now = new Map(built.packages.map((p) => [p.name, p.version]));
  const changes = manifest.sourcePackages
    .filter((p) => now.get(p.name) !== p.version)
    .map((p) => `${p.name} ${p.version} → ${now.get(p.name) ?? "absent"}`);
  const parts: string[] = [];
  if (changes.length > 0) parts.push(`Package versions changed: ${changes.join(", ")}.`);
  if (manifest.count !== built.count) {
    parts.push(`Count ${built.count}, manifest says ${manifest.count}.`);
  }
  if (parts.length === 0) parts.push("Same packages and count: the recipe or a decoder changed.");
  return parts.join(" ") +
    " If the change is intended, rebuild with --update-manifests and commit the manifests.";
}

/**
 * Build the OOD sets that are missing or stale, check each against its manifest, and write the
 * IDX files and contact sheets. A set whose file exists and matches its manifest is skipped
 * (only hashed; logged at Debug). Each step logs a line (`Effect.log`). Fails with `OodSetMismatch` naming the set when a build does not reproduce its
 * manifest's sha256.
 */
export const buildOodSets = (
  options: BuildOodSetsOptions = {},
): Effect.Effect<ReadonlyArray<OodSetReport>, BuildOodSetsError> =>
  Effect.gen(function* () {
    const log = yield* lineLogger;
    const update = options.updateManifests ?? false;
    const selected = new Set(options.only ?? OOD_SET_NAMES);
    const ctx: BuildContext = { dataDir: projectPath(".data"), log };
    const reports: OodSetReport[] = [];
    const manifests = new Map<OodSetName, OodManifest | undefined>();
    const todo = new Set<OodSetName>();

    for (const name of OOD_SET_NAMES.filter((n) => selected.has(n))) {
      const set = oodSets[name];
      const started = performance.now();
      const manifest = yield* readManifest(projectPath(set.manifestPath));
      manifests.set(name, manifest);
      if (!manifest && !update) {
        return yield* Effect.fail(new OodManifestMissing({ set: name, path: set.manifestPath }));
      }
      if (update || !manifest) {
        todo.add(name);
        continue;
      }
      const sha = yield* hashFile(projectPath(set.path));
      if (sha !== manifest.sha256) {
        todo.add(name);
        continue;
      }
      // Up to date: only make sure the contact sheet is there.
      const sheet = projectPath(set.contactSheet);
      if (!(yield* fileIo(sheet, () => exists(sheet)))) {
        const idx = yield* readIdx(projectPath(set.path));
        yield* fileIo(sheet, () =>
          writeFileAtomic(sheet, contactSheet(idx.data, idx.dims[0] ?? 0, SIDE)));
      }
      const seconds = (performance.now() - started) / 1000;
      // A detail (Debug): `grood data --quiet` shows only what was built.
      yield* Effect.logDebug(
        `${name.padEnd(13)} ${String(manifest.count).padStart(6)} images  ` +
          `${seconds.toFixed(1).padStart(6)} s  up to date (skipped)`,
      );
      reports.push({ name, status: "skipped", count: manifest.count, seconds });
    }

    for (const builder of BUILDERS) {
      const wanted = builder.sets.filter((s) =>
        todo.has(s)
      );
      if (wanted.length === 0) continue;
      const started = performance.now();
      const built = yield* builder.build(ctx);
      let buildSeconds = (performance.now() - started) / 1000;
      for (const name of wanted) {
        const set = oodSets[name];
        const result = built[name]!;
        const writeStarted = performance.now();
        if (result.count < set.minCount) {
          return yield* Effect.fail(
            new OodSetTooSmall({ set: name, count: result.count, minCount: set.minCount }),
          );
        }
        const dims = [result.count, SIDE, SIDE];
        const bytes = encodeIdx(dims, result.images);
        const sha = sha256Hex(bytes);
        const manifest = manifests.get(name);
        if (manifest && !update && manifest.sha256 !== sha) {
          return yield* Effect.fail(
            new OodSetMismatch({
              set: name,
              expected: manifest.sha256,
              actual: sha,
              detail: mismatchDetail(manifest, result),
            }),
          );
        }
        const path = projectPath(set.path);
        yield* fileIo(path, () => writeFileAtomic(path, bytes));
        const sheet = projectPath(set.contactSheet);
        yield* fileIo(sheet, () =>
          writeFileAtomic(sheet, contactSheet(result.images, result.count, SIDE)));
        if (update) {
          yield* writeManifest(projectPath(set.manifestPath), {
            name,
            role: set.role,
            count: result.count,
            dims,
            sha256: sha,
            sourcePackages: packageList(result.packages),
            sources: result.sources,
            recipe: result.recipe,
            createdWith: `${CREATED_WITH}, ${builder.file}`,
          });
        }
        const seconds = buildSeconds + (performance.now() - writeStarted) / 1000;
        buildSeconds = 0; // a shared build is reported once
        log(
          `${name.padEnd(13)} ${String(result.count).padStart(6)} images  ` +
            `${seconds.toFixed(1).padStart(6)} s  built${update ? ", manifest written" : ""}`,
        );
        reports.push({ name, status: "built", count: result.count, seconds });
      }
    }
    return OOD_SET_NAMES.flatMap((n) =>
      reports.filter((r) => r.name === n)
    );
  });
