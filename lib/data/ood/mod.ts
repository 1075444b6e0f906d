/**
 * Offline OOD sets: the registry (`oodSets`), a loader and the build (`buildOodSets`).
 *
 * Every set is a raw IDX file of 28×28 uint8 images (ink bright on dark, as MNIST) at
 * `.data/ood/<set>-images-idx3-ubyte`, built deterministically from Debian packages and pinned
 * by a committed manifest `fixtures/ood/<set>.json` (see docs/benchmarks.md). The generated
 * images are not committed (licences); the builders and manifests are.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Effect } from "effect";
import { exists, IoError, sha256Hex, tryIo, writeFileAtomic } from "../../io/files.ts";
import {
  CorruptDataset,
  DatasetFileMissing,
  decodeIdx,
  encodeIdx,
  type Idx,
  readDatasetBytes,
  readIdx,
} from "../../io/idx.ts";
import { memoDigest } from "../../io/verified.ts";
import { lineLogger } from "../../logger.ts";
import type { SourceDownloadFailed, SourceExtractFailed } from "../sources.ts";
import type { ImageSet } from "../images.ts";
import { contactSheet } from "./contact.ts";
import { SIDE } from "./geometry.ts";
import { buildLetters } from "./letters.ts";
import {
  type BuildContext,
  type BuiltSet,
  type OodManifest,
  OodManifestInvalid,
  OodManifestMissing,
  type OodRole,
  OodSetCorrupt,
  OodSetMismatch,
  OodSetTooSmall,
  OodSourceFailed,
  packageList,
  readManifest,
  writeManifest,
} from "./manifest.ts";
import { buildObjects } from "./objects.ts";
import { buildPhotos } from "./photos.ts";
import { buildTextures } from "./textures.ts";

export {
  type BuildContext,
  type BuiltSet,
  type OodManifest,
  OodManifestInvalid,
  OodManifestMissing,
  type OodRole,
  OodSetCorrupt,
  OodSetMismatch,
  OodSetTooSmall,
  OodSourceFailed,
};

/** Names of the OOD sets. */
export type OodSetName =
  | "letters"
  | "letters-val"
  | "textures"
  | "textures-val"
  | "objects"
  | "photos";

/** Registry entry: what a set is and where it lives (paths relative to the project root). */
export interface OodSetInfo {
  readonly name: OodSetName;
  readonly role: OodRole;
  /** Near-OOD (semantically close to digits/clothes: glyphs) or far-OOD. */
  readonly distance: "near" | "far";
  /** For a validation set: the test set whose sources it holds out. */
  readonly heldOutFrom?: OodSetName;
  /** The IDX file. */
  readonly path: string;
  /** The committed manifest. */
  readonly manifestPath: string;
  /** The build fails when a set comes out smaller than this. */
  readonly minCount: number;
  readonly description: string;
  readonly source: string;
  readonly licence: string;
  /** Contact sheet PNG written by the build. */
  readonly contactSheet: string;
}

/** The project root (three folders above this file). */
export const PROJECT_ROOT: string = fileURLToPath(new URL("../../../", import.meta.url));

const info = (
  name: OodSetName,
  rest: Omit<OodSetInfo, "name" | "path" | "manifestPath" | "contactSheet">,
): OodSetInfo => ({
  name,
  path: `.data/ood/${name}-images-idx3-ubyte`,
  manifestPath: `fixtures/ood/${name}.json`,
  contactSheet: `.data/ood/contact/${name}.png`,
  ...rest,
});

const FONT_LICENCE = "fonts under OFL-1.1, GPL-2+ with font exception, LPPL, public domain and " +
  "other free licences (per package: /usr/share/doc/<package>/copyright)";

/** Every OOD set, by name. Benchmarks refer to sets by these names. */
export const oodSets: Readonly<Record<OodSetName, OodSetInfo>> = {
  letters: info("letters", {
    role: "test",
    distance: "near",
    minCount: 7000,
    description: "notMNIST-like letters A–J rendered from Debian fonts (test fonts)",
    source: "~95 Debian fonts-* packages (fonts-aenigma, fonts-adf-*, fonts-urw-base35, …)",
    licence: FONT_LICENCE,
  }),
  "letters-val": info("letters-val", {
    role: "validation",
    distance: "near",
    heldOutFrom: "letters",
    minCount: 1000,
    description: "letters A–J from held-out font groups (never in `letters`)",
    source: "the same font packages; whole font groups held out",
    licence: FONT_LICENCE,
  }),
  textures: info("textures", {
    role: "test",
    distance: "far",
    minCount: 1500,
    description: "random crops of GIMP patterns, scikit-image and MyPaint textures",
    source: "gimp-data, gimp-data-extras, python3-skimage, mypaint-data-extras",
    licence: "GPL-2+/GPL-3+ (GIMP), BSD-3 (scikit-image), CC0/GPL (MyPaint)",
  }),
  "textures-val": info("textures-val", {
    role: "validation",
    distance: "far",
    heldOutFrom: "textures",
    minCount: 250,
    description: "texture crops from held-out source images (never in `textures`)",
    source: "the same texture packages; whole source images held out",
    licence: "GPL-2+/GPL-3+ (GIMP), BSD-3 (scikit-image), CC0/GPL (MyPaint)",
  }),
  objects: info("objects", {
    role: "test",
    distance: "far",
    minCount: 3000,
    description: "Tux Paint stamps and Openclipart object drawings, centred on black",
    source: "tuxpaint-stamps-default, openclipart-png",
    licence: "GPL-2 (Tux Paint stamps), public domain (Openclipart)",
  }),
  photos: info("photos", {
    role: "test",
    distance: "far",
    minCount: 1500,
    description: "random crops of real photographs (wallpapers, image-library samples)",
    source: "mate-backgrounds, plasma-workspace-wallpapers, lomiri-wallpapers-16.04, " +
      "opencv-doc, python3-skimage, python3-sklearn",
    licence: "GPL-2+/CC-BY-SA (wallpapers), LGPL-3 (Plasma), BSD/Apache (OpenCV), BSD-3 " +
      "(scikit-image, scikit-learn); see docs/benchmarks.md",
  }),
};

/** All set names in build order. */
export const OOD_SET_NAMES: ReadonlyArray<OodSetName> = Object.keys(oodSets) as OodSetName[];

/** Absolute path of a registry path. */
export const projectPath = (relative: string): string => join(PROJECT_ROOT, relative);

/** Failures of loading an OOD set. */
export type LoadOodSetError =
  | DatasetFileMissing
  | CorruptDataset
  | IoError
  | OodSetCorrupt
  | OodManifestMissing
  | OodManifestInvalid;

/**
 * Read an OOD set file and check it against its manifest's sha256 on every load (the digest is
 * remembered by size and mtime in `memo`, so an unchanged file is not hashed twice).
 */
export const readOodSetFile = (
  set: string,
  path: string,
  manifestPath: string,
  memo?: string,
): Effect.Effect<Idx, LoadOodSetError> =>
  Effect.gen(function* () {
    const manifest = yield* readManifest(manifestPath);
    if (manifest === undefined) {
      return yield* new OodManifestMissing({ set, path: manifestPath });
    }
    const bytes = yield* readDatasetBytes(path, "build it with: deno task data");
    const actual = yield* memoDigest(path, bytes, "raw", sha256Hex, memo);
    if (actual !== manifest.sha256) {
      return yield* new OodSetCorrupt({ set, path, expected: manifest.sha256, actual });
    }
    return yield* decodeIdx(bytes, path);
  });

/** Load a built OOD set (28×28 IDX) by name, checked against its manifest. */
export const loadOodSet = (name: OodSetName): Effect.Effect<Idx, LoadOodSetError> =>
  readOodSetFile(name, projectPath(oodSets[name].path), projectPath(oodSets[name].manifestPath));

/** Load a built OOD set as an (unlabelled) image set named after it. */
export const loadGeneratedSet = (
  name: OodSetName,
): Effect.Effect<ImageSet, LoadOodSetError> =>
  Effect.map(
    loadOodSet(name),
    (idx): ImageSet => ({ name, count: idx.dims[0]!, pixels: idx.data }),
  );

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

const CREATED_WITH = "grood lib/data/ood (opentype.js 2.0.0, fast-png 8.0.0, jpeg-js 0.4.4)";

const fileIo = <A>(path: string, f: () => Promise<A>) => tryIo(path, "access", f);

/** sha256 of a file, or undefined when it does not exist. */
const hashFile = (path: string) =>
  fileIo(path, async () => (await exists(path)) ? sha256Hex(await Deno.readFile(path)) : undefined);

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
