/**
 * `objects`: single objects on a dark background, a stand-in for CIFAR-10/TinyImageNet — Tux
 * Paint stamps (many are photographic cut-outs) and Openclipart drawings.
 *
 * Recipe (data.md Appendix C, with centring added):
 * - Tux Paint (`tuxpaint-stamps-default`): every PNG stamp, and every SVG stamp that has no PNG
 *   twin (rendered with resvg), except `symbols/alphabets`, `symbols/math` and `symbols/money`
 *   (letters and digits would leak near-OOD content into a far-OOD set) and the `*_mirror`
 *   copies; gray `v = α·luma` (stamp over black).
 * - Openclipart (`openclipart-png`): PNGs of object categories; gray `v = α·(255 − luma)`, so
 *   dark line art on white or transparent paper becomes bright ink on black. Files over 4
 *   megapixels are skipped after reading the PNG header (decoding the largest takes minutes).
 * - Symlinks are not followed: Debian's openclipart-png links duplicate drawings between
 *   categories, so skipping links already removes those duplicates.
 * - Then: crop to the bounding box of pixels brighter than `inkThreshold`, pad to a black
 *   square with a margin so the object fills a 24 px box (as the letters do), area-average to
 *   28×28. Files identical to an earlier file, images with no ink and images identical to an
 *   earlier output are dropped (Openclipart files the same drawing under several categories).
 *
 * @module
 */
import { Effect } from "effect";
import { sha256Hex } from "../../lib/io/mod.ts";
import {
  type DebianSource,
  ensurePackages,
  type SourceDownloadFailed,
  type SourceExtractFailed,
} from "./debian.ts";
import { areaResize, inkBounds, padToSquare, SIDE, toUint8 } from "./geometry.ts";
import {
  decodePng,
  decodeSvg,
  type GrayImage,
  inkFromLineArt,
  lumaOverBlack,
  pngSize,
} from "./image.ts";
import {
  type BuildContext,
  type BuiltSet,
  listSource,
  OodSourceFailed,
  readSource,
} from "./build_context.ts";

const TUX = "usr/share/tuxpaint/stamps/";
const CLIPART = "usr/share/openclipart/png/";

/** Openclipart folders of depicted things (not icons, shapes, signs, maps or patterns). */
export const OPENCLIPART_FOLDERS: ReadonlyArray<string> = [
  "animals",
  "buildings",
  "computer/hardware",
  "containers",
  "decorations",
  "education",
  "electronics",
  "food",
  "office",
  "people",
  "plants",
  "recreation",
  "science",
  "tools",
  "transportation",
  "unsorted",
];

/** Recipe parameters recorded in the manifest. */
export const OBJECTS_RECIPE = {
  seed: 0, // no random choice in this recipe
  maxMegapixels: 4,
  inkThreshold: 16,
  margin: 1 / 12,
  svgSide: 256,
  tuxPaint: "PNG stamps, and SVG stamps without a PNG twin (rendered with resvg, longer side " +
    "256 px, no system fonts), minus symbols/{alphabets,math,money} and *_mirror; v = alpha*luma",
  openclipart: `PNGs under ${OPENCLIPART_FOLDERS.join(", ")} (unsorted/duplicates excluded) ` +
    "and top-level computer/*.png; v = alpha*(255-luma)",
  geometry: "crop to ink bounding box, pad to square (object in 24 px box), area average to 28",
} as const;

/** Does this extracted file belong to the set? PNG stamps, and SVG stamps without a PNG twin. */
function isTuxStamp(file: string, all: ReadonlySet<string>): boolean {
  if (!file.startsWith(TUX)) return false;
  const rel = file.slice(TUX.length);
  if (/^symbols\/(alphabets|math|money)\//.test(rel)) return false;
  if (/_mirror\.(png|svg)$/.test(rel)) return false;
  if (file.endsWith(".png")) return true;
  return file.endsWith(".svg") && !all.has(file.slice(0, -4) + ".png");
}

function isClipartObject(file: string): boolean {
  if (!file.startsWith(CLIPART) || !file.endsWith(".png")) return false;
  const rel = file.slice(CLIPART.length);
  if (rel.startsWith("unsorted/duplicates/")) return false;
  // Top-level computer/*.png are drawings of devices; computer/icons are UI icons.
  if (/^computer\/[^/]+\.png$/.test(rel)) return true;
  return OPENCLIPART_FOLDERS.some((f) => rel.startsWith(`${f}/`));
}

/** Centre an object image in 28×28; undefined when it has no ink. */
export function centreObject(img: GrayImage): Uint8Array | undefined {
  const box = inkBounds(img, OBJECTS_RECIPE.inkThreshold);
  if (!box) return undefined;
  const square = padToSquare(img, box, OBJECTS_RECIPE.margin);
  return toUint8(areaResize(square, SIDE, SIDE));
}

/** Build `objects` (test only). */
export const buildObjects = (
  ctx: BuildContext,
): Effect.Effect<
  Record<"objects", BuiltSet>,
  SourceDownloadFailed | SourceExtractFailed | OodSourceFailed
> =>
  Effect.gen(function* () {
    const packages = yield* ensurePackages(["tuxpaint-stamps-default", "openclipart-png"], {
      dataDir: ctx.dataDir,
    });
    const [tux, clip] = packages as [DebianSource, DebianSource];
    const jobs: Array<{ pkg: DebianSource; file: string; ink: "luma" | "inverted" }> = [];
    const tuxFiles = yield* listSource("objects", tux.root);
    const tuxSet = new Set(tuxFiles);
    for (const f of tuxFiles) {
      if (isTuxStamp(f, tuxSet)) jobs.push({ pkg: tux, file: f, ink: "luma" });
    }
    for (const f of yield* listSource("objects", clip.root)) {
      if (isClipartObject(f)) jobs.push({ pkg: clip, file: f, ink: "inverted" });
    }
    const dropped = { tooLarge: 0, duplicateFile: 0, noInk: 0, duplicateImage: 0 };
    const seenFiles = new Set<string>();
    const seenImages = new Set<string>();
    const images: Uint8Array[] = [];
    const sources: string[] = [];
    const counts = { tuxPaint: 0, tuxPaintSvg: 0, openclipart: 0 };
    for (const job of jobs) {
      const path = `${job.pkg.root}/${job.file}`;
      const bytes = yield* readSource("objects", path);
      const svg = job.file.endsWith(".svg");
      const size = svg ? { width: 0, height: 0 } : pngSize(bytes);
      if (!size) {
        return yield* Effect.fail(
          new OodSourceFailed({ set: "objects", path, problem: "not a PNG file" }),
        );
      }
      if (size.width * size.height > OBJECTS_RECIPE.maxMegapixels * 1e6) {
        dropped.tooLarge++;
        continue;
      }
      const fileHash = sha256Hex(bytes);
      if (seenFiles.has(fileHash)) {
        dropped.duplicateFile++;
        continue;
      }
      seenFiles.add(fileHash);
      const decode = svg ? decodeSvg(bytes, path, OBJECTS_RECIPE.svgSide) : decodePng(bytes, path);
      const rgba = yield* decode.pipe(
        Effect.mapError((e) => new OodSourceFailed({ set: "objects", path, problem: e.problem })),
      );
      const gray = job.ink === "luma" ? lumaOverBlack(rgba) : inkFromLineArt(rgba);
      const image = centreObject(gray);
      if (!image) {
        dropped.noInk++;
        continue;
      }
      const imageHash = sha256Hex(image);
      if (seenImages.has(imageHash)) {
        dropped.duplicateImage++;
        continue;
      }
      seenImages.add(imageHash);
      images.push(image);
      sources.push(`${job.pkg.name}/${job.file}`);
      if (job.ink === "inverted") counts.openclipart++;
      else if (svg) counts.tuxPaintSvg++;
      else counts.tuxPaint++;
    }
    const out = new Uint8Array(images.length * SIDE * SIDE);
    images.forEach((im, i) => out.set(im, i * SIDE * SIDE));
    ctx.log(
      `objects: ${counts.tuxPaint} Tux Paint PNG + ${counts.tuxPaintSvg} Tux Paint SVG + ` +
        `${counts.openclipart} Openclipart ` +
        `(dropped ${JSON.stringify(dropped)})`,
    );
    return {
      objects: {
        images: out,
        count: images.length,
        sources,
        packages,
        recipe: {
          ...OBJECTS_RECIPE,
          set: "objects",
          counts,
          dropped,
          order: "Tux Paint then Openclipart, each sorted by path",
        },
      },
    };
  });
