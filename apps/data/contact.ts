/**
 * Contact sheets: a grid of sample images from a set, written as an 8-bit gray PNG, so a person
 * can look at a set (letters readable? ink bright on dark? objects centred?).
 *
 * @module
 */
import { encode } from "fast-png";
import { permutation } from "../../lib/data/mod.ts";

/** Layout of a contact sheet. */
export interface ContactSheetOptions {
  /** Tiles per row and per column (the sheet shows up to `grid²` images). */
  readonly grid: number;
  /** Integer upscale factor of each tile (nearest neighbour, so pixels stay visible). */
  readonly scale: number;
  /** Gap between tiles in output pixels, drawn mid-gray so a black tile's edge is visible. */
  readonly gap: number;
  /** Seed of the sample; the same seed shows the same images. */
  readonly seed: number;
}

/** 10×10 tiles, ×3, 2 px gaps, seed 0. */
export const CONTACT_SHEET: ContactSheetOptions = { grid: 10, scale: 3, gap: 2, seed: 0 };

/**
 * Render a contact sheet PNG of `count` images of `side`×`side` (uint8, image-major) and return
 * the PNG bytes. Samples a seeded random subset (all images when there are fewer than grid²),
 * shown in index order so that neighbouring tiles come from nearby sources.
 */
export function contactSheet(
  images: Uint8Array,
  count: number,
  side: number,
  options: ContactSheetOptions = CONTACT_SHEET,
): Uint8Array {
  const { grid, scale, gap } = options;
  const shown = Math.min(count, grid * grid);
  const picked = Array.from(permutation(count, options.seed).subarray(0, shown)).sort((a, b) =>
    a - b
  );
  const tile = side * scale;
  const width = grid * tile + (grid + 1) * gap;
  const rows = Math.max(1, Math.ceil(shown / grid));
  const height = rows * tile + (rows + 1) * gap;
  const data = new Uint8Array(width * height).fill(128);
  picked.forEach((index, k) => {
    const gx = gap + (k % grid) * (tile + gap);
    const gy = gap + Math.floor(k / grid) * (tile + gap);
    const base = index * side * side;
    for (let y = 0; y < tile; y++) {
      const sy = Math.floor(y / scale);
      for (let x = 0; x < tile; x++) {
        data[(gy + y) * width + gx + x] = images[base + sy * side + Math.floor(x / scale)]!;
      }
    }
  });
  return encode({ width, height, data, channels: 1, depth: 8 });
}
