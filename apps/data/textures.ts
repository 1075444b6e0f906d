/**
 * `textures` and `textures-val`: random square crops of texture images from Debian packages —
 * GIMP patterns (gimp-data, gimp-data-extras), scikit-image's brick/grass/gravel and MyPaint's
 * paper and canvas backgrounds (mypaint-data-extras).
 *
 * Recipe: each source is decoded to gray (`v = α·luma`, composited over black). Sources whose
 * pixels are identical to an earlier source are dropped. A seeded ~15% of the sources is held
 * out whole for `textures-val`, so validation and test share no source image. Each source gives
 * `cropsPerSource` crops: side uniform in [28, max(28, shorter side)], top-left corner uniform
 * over the image, wrapping around the edges (patterns are made to tile, and a pattern smaller
 * than 28 px is tiled rather than stretched); each crop is area-averaged to 28×28.
 *
 * @module
 */
import { Effect } from "effect";
import { sha256Hex } from "../../lib/io/mod.ts";
import { mulberry32, permutation } from "../../lib/data/mod.ts";
import {
  type DebianSource,
  ensurePackages,
  type SourceDownloadFailed,
  type SourceExtractFailed,
} from "./debian.ts";
import { cropTo28, SIDE } from "./geometry.ts";
import { decodeImage, type GrayImage, lumaOverBlack } from "./image.ts";
import {
  type BuildContext,
  type BuiltSet,
  listSource,
  OodSourceFailed,
  readSource,
} from "./build_context.ts";

/** Texture packages and which of their files are textures. */
export const TEXTURE_SOURCES: ReadonlyArray<{ readonly pkg: string; readonly match: RegExp }> = [
  { pkg: "gimp-data", match: /^usr\/share\/gimp\/2\.0\/patterns\/.*\.pat$/ },
  { pkg: "gimp-data-extras", match: /^usr\/share\/gimp\/2\.0\/patterns\/.*\.pat$/ },
  {
    pkg: "python3-skimage",
    match: /^usr\/lib\/python3\/dist-packages\/skimage\/data\/(brick|grass|gravel)\.png$/,
  },
  { pkg: "mypaint-data-extras", match: /^usr\/share\/mypaint\/backgrounds\/.*\.png$/ },
];

/** Recipe parameters recorded in both manifests. */
export const TEXTURES_RECIPE = {
  seed: 20260302,
  validationFraction: 0.15,
  cropsPerSource: 12,
  cropSide: "uniform integer in [28, max(28, shorter side)], wrap-around",
  gray: "alpha * BT.601 luma (composited over black)",
  resize: "area average to 28x28",
} as const;

interface TextureSource {
  readonly source: string;
  readonly pkg: DebianSource;
  readonly image: GrayImage;
}

/** `count` seeded crops of one source (the seed depends on the source's index). */
function crops(img: GrayImage, count: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const out = new Uint8Array(count * SIDE * SIDE);
  const maxSide = Math.max(SIDE, Math.min(img.width, img.height));
  for (let k = 0; k < count; k++) {
    const side = SIDE + Math.floor(random() * (maxSide - SIDE + 1));
    const x = Math.floor(random() * img.width);
    const y = Math.floor(random() * img.height);
    out.set(cropTo28(img, x, y, side), k * SIDE * SIDE);
  }
  return out;
}

/** Build `textures` (test) and `textures-val` (validation), holding out whole sources. */
export const buildTextures = (
  ctx: BuildContext,
): Effect.Effect<
  Record<"textures" | "textures-val", BuiltSet>,
  SourceDownloadFailed | SourceExtractFailed | OodSourceFailed
> =>
  Effect.gen(function* () {
    const packages = yield* ensurePackages(TEXTURE_SOURCES.map((s) => s.pkg), {
      dataDir: ctx.dataDir,
    });
    const sources: TextureSource[] = [];
    const seen = new Set<string>();
    let duplicates = 0;
    for (const [i, spec] of TEXTURE_SOURCES.entries()) {
      const pkg = packages[i]!;
      const files = (yield* listSource("textures", pkg.root)).filter((f) => spec.match.test(f));
      for (const file of files) {
        const path = `${pkg.root}/${file}`;
        const bytes = yield* readSource("textures", path);
        const rgba = yield* decodeImage(bytes, path).pipe(
          Effect.mapError((e) =>
            new OodSourceFailed({ set: "textures", path, problem: e.problem })
          ),
        );
        const image = lumaOverBlack(rgba);
        const hash = sha256Hex(new Uint8Array(image.data.buffer)) + `:${image.width}`;
        if (seen.has(hash)) {
          duplicates++;
          continue;
        }
        seen.add(hash);
        sources.push({ source: `${pkg.name}/${file}`, pkg, image });
      }
    }
    const order = permutation(sources.length, TEXTURES_RECIPE.seed);
    const nHeld = Math.round(sources.length * TEXTURES_RECIPE.validationFraction);
    const held = new Set(Array.from(order.subarray(0, nHeld)));
    const make = (validation: boolean, name: string): BuiltSet => {
      const chosen = sources
        .map((s, index) => ({ ...s, index }))
        .filter((s) => held.has(s.index) === validation);
      const per = TEXTURES_RECIPE.cropsPerSource;
      const images = new Uint8Array(chosen.length * per * SIDE * SIDE);
      chosen.forEach((s, k) => {
        // Seed per source index, so adding a source elsewhere does not change these crops.
        images.set(crops(s.image, per, TEXTURES_RECIPE.seed + 1 + s.index), k * per * SIDE * SIDE);
      });
      const used = new Set(chosen.map((s) => s.pkg.name));
      return {
        images,
        count: chosen.length * per,
        sources: chosen.map((s) => s.source),
        packages: packages.filter((p) => used.has(p.name)),
        recipe: {
          ...TEXTURES_RECIPE,
          set: name,
          sourceImages: chosen.length,
          droppedDuplicateSources: duplicates,
          order: "sources sorted by package then path; crops of one source consecutive",
        },
      };
    };
    ctx.log(`textures: ${sources.length} sources (${duplicates} duplicates), ${nHeld} held out`);
    return { textures: make(false, "textures"), "textures-val": make(true, "textures-val") };
  });
