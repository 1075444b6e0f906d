/**
 * Offline OOD sets: the registry (`oodSets`), their manifests and a checked loader. Every set is
 * a raw IDX file of 28×28 uint8 images at `.data/ood/<set>-images-idx3-ubyte`, built by
 * `deno task data` (`apps/data/`) from Debian packages and pinned by a committed manifest
 * `fixtures/ood/<set>.json` (docs/benchmarks.md); the images themselves are not committed.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Effect } from "effect";
import {
  CorruptDataset,
  DatasetFileMissing,
  decodeIdx,
  type Idx,
  readDatasetBytes,
} from "../../io/idx.ts";
import { memoDigest } from "../../io/verified.ts";
import { type IoError, sha256Hex } from "../../io/files.ts";
import type { ImageSet } from "../images.ts";
import {
  OodManifestInvalid,
  OodManifestMissing,
  type OodRole,
  OodSetCorrupt,
  readManifest,
} from "./manifest.ts";

export { OodSetCorrupt } from "./manifest.ts";

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
  /** The set's name. */
  readonly name: OodSetName;
  /** Scored in a benchmark (`test`) or used for tuning (`validation`). */
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
  /** What the set holds. */
  readonly description: string;
  /** Where its images come from. */
  readonly source: string;
  /** The licence of its sources. */
  readonly licence: string;
  /** Contact sheet PNG written by the build. */
  readonly contactSheet: string;
}

const PROJECT_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

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
