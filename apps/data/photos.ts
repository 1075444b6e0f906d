/**
 * `photos`: random crops of real photographs shipped in Debian packages, a stand-in for
 * Places365 (scenes) — MATE's nature wallpapers, the photographic Plasma wallpapers (their small
 * `screenshot.*` previews), the Ubuntu 16.04 community wallpapers (lomiri-wallpapers-16.04),
 * OpenCV's sample photographs, scikit-image's sample photographs and scikit-learn's two photos.
 *
 * Only photographs are used: renders, paintings, drawings, synthetic test patterns, images of
 * text (sudoku, text_motion, page) and the second image of stereo / multi-view pairs are left
 * out (the list below was chosen by looking at every candidate). WebP and SVG files are not
 * used. Recipe: gray `v = luma`; `cropsPerSource` crops per photo, side uniform in
 * [10%, 60%] of the shorter side, position uniform inside the image, area-averaged to 28×28.
 *
 * @module
 */
import { Effect } from "effect";
import { mulberry32 } from "../../lib/data/mod.ts";
import {
  type DebianSource,
  ensurePackages,
  type SourceDownloadFailed,
  type SourceExtractFailed,
} from "./debian.ts";
import { cropTo28, SIDE } from "./geometry.ts";
import { decodeImage, lumaOverBlack } from "./image.ts";
import { type BuildContext, type BuiltSet, OodSourceFailed, readSource } from "./build_context.ts";

const OPENCV = "usr/share/doc/opencv-doc/examples/data/";
const SKIMAGE = "usr/lib/python3/dist-packages/skimage/data/";
const PLASMA = "usr/share/wallpapers/";
const LOMIRI = "usr/share/backgrounds/";

/** Every photo used, by package (paths inside the package). */
export const PHOTO_SOURCES: ReadonlyArray<{ readonly pkg: string; readonly files: string[] }> = [
  {
    pkg: "mate-backgrounds",
    files: [
      "Aqua",
      "Blinds",
      "Dune",
      "FreshFlower",
      "Garden",
      "GreenMeadow",
      "LadyBird",
      "RainDrops",
      "Storm",
      "TwoWings",
      "Wood",
      "YellowFlower",
    ].map((n) => `usr/share/backgrounds/mate/nature/${n}.jpg`),
  },
  {
    // Photographs only (EXIF camera data or photographer credit); the rest are artwork.
    pkg: "plasma-workspace-wallpapers",
    files: [
      "BytheWater/contents/screenshot.jpg",
      "ColdRipple/contents/screenshot.jpg",
      "ColorfulCups/contents/screenshot.jpg",
      "DarkestHour/contents/screenshot.jpg",
      "EveningGlow/contents/screenshot.jpg",
      "FallenLeaf/contents/screenshot.jpg",
      "Kite/contents/screenshot.jpg",
      "MilkyWay/contents/screenshot.png",
      "OneStandsOut/contents/screenshot.jpg",
      "Path/contents/screenshot.jpg",
      "summer_1am/contents/screenshot.jpg",
    ].map((f) => PLASMA + f),
  },
  {
    // umang_by_Abhishek_Mudgal.jpg is abstract art and is left out.
    pkg: "lomiri-wallpapers-16.04",
    files: [
      "Bridge_by_Sander_Klootwijk",
      "Dragonfly_by_Bolly",
      "Picture_0B_by_freespace",
      "Picture_1A_by_freespace",
      "Wine_by_Jakkub_Mede",
      "aitzgorri_by_Aitzol_Berasategi",
      "analogpattern_by_Peter_Nerlich",
      "free_by_Peter_Nerlich",
      "friends_by_Aitzol_Berasategi",
      "greentock_by_Peter_Nerlich",
      "life_by_Aitzol_Berasategi",
      "picosdeeuropa_by_Aitzol_Berasategi",
      "seeding_by_Clements_Engelhardt",
      "sunset_by_Aitzol_Berasategi",
    ].map((n) => `${LOMIRI}${n}.jpg`),
  },
  {
    pkg: "opencv-doc",
    files: [
      "aero1.jpg",
      "aloeL.jpg",
      "apple.jpg",
      "baboon.jpg",
      "basketball1.png",
      "board.jpg",
      "box_in_scene.png",
      "building.jpg",
      "butterfly.jpg",
      "chicky_512.png",
      "ela_original.jpg",
      "fruits.jpg",
      "graf1.png",
      "home.jpg",
      "left.jpg",
      "leuvenA.jpg",
      "messi5.jpg",
      "orange.jpg",
      "rubberwhale1.png",
      "smarties.png",
      "squirrel_cls.jpg",
      "stuff.jpg",
    ].map((f) => OPENCV + f),
  },
  {
    pkg: "python3-skimage",
    files: [
      "astronaut.png",
      "camera.png",
      "cell.png",
      "chelsea.png",
      "clock_motion.png",
      "coffee.png",
      "coins.png",
      "hubble_deep_field.jpg",
      "ihc.png",
      "moon.png",
      "motorcycle_left.png",
      "retina.jpg",
      "rocket.jpg",
    ].map((f) => SKIMAGE + f),
  },
  {
    pkg: "python3-sklearn",
    files: ["china.jpg", "flower.jpg"].map((f) =>
      `usr/lib/python3/dist-packages/sklearn/datasets/images/${f}`
    ),
  },
];

/** Recipe parameters recorded in the manifest. */
export const PHOTOS_RECIPE = {
  seed: 20260304,
  cropsPerSource: 24,
  cropSide: "uniform in [0.1, 0.6] x shorter side (rounded), position uniform inside the image",
  gray: "BT.601 luma",
  resize: "area average to 28x28",
} as const;

/** Build `photos` (test only). */
export const buildPhotos = (
  ctx: BuildContext,
): Effect.Effect<
  Record<"photos", BuiltSet>,
  SourceDownloadFailed | SourceExtractFailed | OodSourceFailed
> =>
  Effect.gen(function* () {
    const packages = yield* ensurePackages(PHOTO_SOURCES.map((s) => s.pkg), {
      dataDir: ctx.dataDir,
    });
    const per = PHOTOS_RECIPE.cropsPerSource;
    const total = PHOTO_SOURCES.reduce((n, s) => n + s.files.length, 0);
    const images = new Uint8Array(total * per * SIDE * SIDE);
    const sources: string[] = [];
    let index = 0;
    for (const [i, spec] of PHOTO_SOURCES.entries()) {
      const pkg: DebianSource = packages[i]!;
      for (const file of spec.files) {
        const path = `${pkg.root}/${file}`;
        const bytes = yield* readSource("photos", path);
        const rgba = yield* decodeImage(bytes, path).pipe(
          Effect.mapError((e) => new OodSourceFailed({ set: "photos", path, problem: e.problem })),
        );
        const img = lumaOverBlack(rgba);
        const short = Math.min(img.width, img.height);
        // Seed per source, so one photo's crops do not depend on the others.
        const random = mulberry32(PHOTOS_RECIPE.seed + 1 + index);
        for (let k = 0; k < per; k++) {
          const side = Math.max(1, Math.round(short * (0.1 + 0.5 * random())));
          const x = Math.floor(random() * (img.width - side + 1));
          const y = Math.floor(random() * (img.height - side + 1));
          images.set(cropTo28(img, x, y, side), (index * per + k) * SIDE * SIDE);
        }
        sources.push(`${pkg.name}/${file}`);
        index++;
      }
    }
    ctx.log(`photos: ${index} photographs × ${per} crops`);
    return {
      photos: {
        images,
        count: index * per,
        sources,
        packages,
        recipe: {
          ...PHOTOS_RECIPE,
          set: "photos",
          sourceImages: index,
          order: "sources in the listed order; crops of one photo consecutive",
        },
      },
    };
  });
