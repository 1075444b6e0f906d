/**
 * `letters` and `letters-val`: notMNIST-like letters A–J rendered from the fonts of Debian font
 * packages (data.md §3 and Appendix B).
 *
 * Recipe: every `.ttf`/`.otf` file of the packages below, in sorted order, is parsed with
 * opentype.js; each of A–J is rendered with {@link rasterizeGlyph} (24 px box in 28×28, ink 255
 * on 0). A font is dropped when it cannot be parsed, lacks one of the ten glyphs, or renders
 * exactly like an earlier font. The kept fonts are split by font *group* (a package, or a
 * family inside a collection package, with clones of one design merged) so that no design is
 * on both sides: a seeded ~15% of fonts goes to `letters-val`, the rest to `letters`.
 *
 * @module
 */
import opentype from "opentype.js";
import { Effect } from "effect";
import { sha256Hex } from "../../lib/io/mod.ts";
import { permutation } from "../../lib/data/mod.ts";
import { ensurePackages, type SourceDownloadFailed, type SourceExtractFailed } from "./debian.ts";
import { GLYPH_RASTER, type PathCommand, rasterizeGlyph } from "./glyph.ts";
import {
  type BuildContext,
  type BuiltSet,
  listSource,
  type OodSourceFailed,
  readSource,
} from "./build_context.ts";

/** The letters rendered, in label order (A = 0 … J = 9), as in notMNIST. */
export const LETTERS = "ABCDEFGHIJ";

/**
 * Font packages. The first 34 are data.md's verified list; the rest are small Latin text and
 * display typefaces added so the test split keeps ≥ 7,000 images after fonts are held out.
 */
export const LETTER_PACKAGES: ReadonlyArray<string> = [
  "fonts-aenigma",
  "fonts-dustin",
  "fonts-urw-base35",
  "fonts-texgyre",
  "fonts-liberation2",
  "fonts-dejavu-core",
  "fonts-freefont-otf",
  "fonts-cmu",
  "fonts-bwht",
  "fonts-sjfonts",
  "fonts-breip",
  "fonts-humor-sans",
  "fonts-ecolier-court",
  "fonts-femkeklaver",
  "fonts-rufscript",
  "fonts-dkg-handwriting",
  "fonts-leckerli-one",
  "fonts-ocr-a",
  "fonts-ocr-b",
  ...[
    "accanthis",
    "baskervald",
    "berenis",
    "gillius",
    "ikarius",
    "irianis",
    "libris",
    "mekanus",
    "oldania",
    "romande",
    "solothurn",
    "switzera",
    "tribun",
    "universalis",
    "verana",
  ].map((f) => `fonts-adf-${f}`),
  // Added beyond data.md (small packages, Latin typefaces).
  "fonts-allerta",
  "fonts-apropal",
  "fonts-arkpandora",
  "fonts-averia-gwf",
  "fonts-averia-sans-gwf",
  "fonts-averia-serif-gwf",
  "fonts-bebas-neue",
  "fonts-beteckna",
  "fonts-blankenburg",
  "fonts-cabin",
  "fonts-cabinsketch",
  "fonts-cantarell",
  "fonts-cardo",
  "fonts-century-catalogue",
  "fonts-cherrybomb",
  "fonts-comfortaa",
  "fonts-comic-neue",
  "fonts-crosextra-caladea",
  "fonts-crosextra-carlito",
  "fonts-dancingscript",
  "fonts-dosis",
  "fonts-ebgaramond",
  "fonts-engadget",
  "fonts-eurofurence",
  "fonts-f500",
  "fonts-fantasma",
  "fonts-fanwood",
  "fonts-georgewilliams",
  "fonts-gotico-antiqua",
  "fonts-goudybookletter",
  "fonts-havana",
  "fonts-isabella",
  "fonts-junction",
  "fonts-jura",
  "fonts-kaushanscript",
  "fonts-klaudia-berenika",
  "fonts-kristi",
  "fonts-league-spartan",
  "fonts-levien-museum",
  "fonts-lindenhill",
  "fonts-linuxlibertine",
  "fonts-lobster",
  "fonts-lobstertwo",
  "fonts-okolaks",
  "fonts-oldstandard",
  "fonts-open-sans",
  "fonts-play",
  "fonts-prociono",
  "fonts-quattrocento",
  "fonts-quicksand",
  "fonts-radisnoir",
  "fonts-roboto-slab",
  "fonts-staypuft",
  "fonts-summersby",
  "fonts-tiresias",
  "fonts-tomsontalks",
  "fonts-tuffy",
  "fonts-uralic",
  "fonts-yanone-kaffeesatz",
];

/**
 * Packages that hold copies or close derivatives of one design, merged into one group so a
 * design cannot land on both sides of the split: TeX Gyre and GNU FreeFont are derived from the
 * URW base-35 fonts; Arkpandora and DejaVu are both derived from Bitstream Vera.
 */
const MERGED_GROUPS: Readonly<Record<string, string>> = {
  "fonts-urw-base35": "urw-base35-derivatives",
  "fonts-texgyre": "urw-base35-derivatives",
  "fonts-freefont-otf": "urw-base35-derivatives",
  "fonts-dejavu-core": "bitstream-vera-derivatives",
  "fonts-arkpandora": "bitstream-vera-derivatives",
};

/**
 * Collection packages of unrelated typefaces (Ray Larabie's and Dustin Norlander's fonts):
 * grouped by family stem (first word of the family name) instead of by package, so a family's
 * variants ("Airmole", "Airmole Shaded", …) stay together but the collection can be split.
 */
const COLLECTIONS: ReadonlySet<string> = new Set(["fonts-aenigma", "fonts-dustin"]);

/** Recipe parameters recorded in both manifests. */
export const LETTERS_RECIPE = {
  seed: 20260301,
  validationFraction: 0.15,
  letters: LETTERS,
  raster: GLYPH_RASTER,
  grouping: "package; family stem inside fonts-aenigma and fonts-dustin; " +
    "URW base-35 derivatives (urw-base35, texgyre, freefont) and Bitstream Vera derivatives " +
    "(dejavu-core, arkpandora) merged",
} as const;

/** The split group of a font: see {@link MERGED_GROUPS} and {@link COLLECTIONS}. */
export function fontGroup(pkg: string, family: string): string {
  const merged = MERGED_GROUPS[pkg];
  if (merged !== undefined) return merged;
  if (COLLECTIONS.has(pkg)) {
    const stem = family.toLowerCase().replace(/[^a-z0-9 ]/g, "").trim().split(/\s+/)[0] ?? "";
    return `${pkg}:${stem}`;
  }
  return pkg;
}

/** The parts of opentype.js's `Font` we use (the package ships no types). */
interface OpenTypeFont {
  charToGlyph(
    c: string,
  ): { index: number; getPath(x: number, y: number, size: number): { commands: PathCommand[] } };
  getEnglishName(name: string): string | undefined;
}
const parseFont = (opentype as { parse(buffer: ArrayBuffer): OpenTypeFont }).parse;

/** A font that rendered all ten letters. */
interface RenderedFont {
  readonly source: string;
  readonly group: string;
  readonly images: Uint8Array;
}

/** Render A–J from font bytes; a reason string when the font must be dropped. */
export function renderFont(bytes: Uint8Array): { images: Uint8Array; family: string } | string {
  // opentype.js reports recoverable problems (an odd `gasp` table, deep CFF subroutines) with
  // console.warn and carries on; they say nothing about the glyphs we render, so mute them.
  const warn = console.warn;
  console.warn = () => {};
  try {
    return renderFontQuiet(bytes);
  } finally {
    console.warn = warn;
  }
}

function renderFontQuiet(bytes: Uint8Array): { images: Uint8Array; family: string } | string {
  let font: OpenTypeFont;
  try {
    font = parseFont(bytes.slice().buffer);
  } catch (error) {
    return `unparseable (${error instanceof Error ? error.message : String(error)})`;
  }
  const images = new Uint8Array(LETTERS.length * 28 * 28);
  for (const [i, ch] of [...LETTERS].entries()) {
    let image: Uint8Array | undefined;
    try {
      const glyph = font.charToGlyph(ch);
      if (!glyph || glyph.index === 0) return "missing glyph";
      image = rasterizeGlyph(glyph.getPath(0, 0, 100).commands);
    } catch (error) {
      return `unparseable glyph (${error instanceof Error ? error.message : String(error)})`;
    }
    if (!image) return "missing glyph";
    images.set(image, i * 28 * 28);
  }
  const family = font.getEnglishName("preferredFamily") ?? font.getEnglishName("fontFamily") ?? "";
  return { images, family };
}

/** Build `letters` (test) and `letters-val` (validation) in one pass over the fonts. */
export const buildLetters = (
  ctx: BuildContext,
): Effect.Effect<
  Record<"letters" | "letters-val", BuiltSet>,
  SourceDownloadFailed | SourceExtractFailed | OodSourceFailed
> =>
  Effect.gen(function* () {
    const packages = yield* ensurePackages(LETTER_PACKAGES, { dataDir: ctx.dataDir });
    const fonts: RenderedFont[] = [];
    const dropped = { unparseable: 0, missingGlyph: 0, duplicate: 0 };
    const seen = new Set<string>();
    for (const pkg of packages) {
      const files = (yield* listSource("letters", pkg.root))
        .filter((f) => /\.(ttf|otf)$/i.test(f));
      for (const file of files) {
        const bytes = yield* readSource("letters", `${pkg.root}/${file}`);
        const rendered = renderFont(bytes);
        if (typeof rendered === "string") {
          if (rendered.startsWith("missing")) dropped.missingGlyph++;
          else dropped.unparseable++;
          continue;
        }
        const hash = sha256Hex(rendered.images);
        if (seen.has(hash)) {
          dropped.duplicate++;
          continue;
        }
        seen.add(hash);
        fonts.push({
          source: `${pkg.name}/${file}`,
          group: fontGroup(pkg.name, rendered.family),
          images: rendered.images,
        });
      }
    }
    // Split by group: walk the groups in a seeded order and hold one out whenever it still
    // fits under the target share, so validation gets ~15% of the fonts, all from whole groups.
    const sizes = new Map<string, number>();
    for (const f of fonts) sizes.set(f.group, (sizes.get(f.group) ?? 0) + 1);
    const groups = [...sizes.keys()].sort();
    const order = permutation(groups.length, LETTERS_RECIPE.seed);
    const target = Math.round(fonts.length * LETTERS_RECIPE.validationFraction);
    const held = new Set<string>();
    let heldFonts = 0;
    for (const k of order) {
      const g = groups[k]!;
      const size = sizes.get(g)!;
      if (heldFonts + size <= target) {
        held.add(g);
        heldFonts += size;
      }
    }
    const make = (validation: boolean, name: string): BuiltSet => {
      const chosen = fonts.filter((f) => held.has(f.group) === validation);
      const images = new Uint8Array(chosen.length * LETTERS.length * 28 * 28);
      chosen.forEach((f, i) => images.set(f.images, i * f.images.length));
      const chosenGroups = new Set(chosen.map((f) => f.group));
      return {
        images,
        count: chosen.length * LETTERS.length,
        sources: chosen.map((f) => f.source),
        packages: packages.filter((p) => chosen.some((f) => f.source.startsWith(`${p.name}/`))),
        recipe: {
          ...LETTERS_RECIPE,
          set: name,
          fonts: chosen.length,
          groups: chosenGroups.size,
          heldOutGroups: [...held].sort(),
          droppedFonts: dropped,
          order: "fonts sorted by package then path; A–J per font",
        },
      };
    };
    ctx.log(
      `letters: ${fonts.length} fonts kept (${dropped.unparseable} unparseable, ` +
        `${dropped.missingGlyph} missing a glyph, ${dropped.duplicate} duplicates); ` +
        `${heldFonts} held out in ${held.size} groups`,
    );
    return { letters: make(false, "letters"), "letters-val": make(true, "letters-val") };
  });
