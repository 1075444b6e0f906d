/**
 * Glyph rasterizer: an opentype.js path (M/L/Q/C/Z commands) to a 28×28 uint8 image, glyph
 * scaled to fit a 24 px box, centred, ink 255 on 0, nonzero fill with 4×4 supersampling.
 *
 * Why our own (≈60 lines) rather than a canvas: no canvas exists in Deno without native code,
 * and a small scanline filler gives byte-identical output on every platform
 * (data.md Appendix B; this is that recipe, typed).
 *
 * @module
 */

/** One opentype.js path command (`glyph.getPath(...).commands`). */
export type PathCommand =
  | { readonly type: "M" | "L"; readonly x: number; readonly y: number }
  | {
    readonly type: "Q";
    readonly x1: number;
    readonly y1: number;
    readonly x: number;
    readonly y: number;
  }
  | {
    readonly type: "C";
    readonly x1: number;
    readonly y1: number;
    readonly x2: number;
    readonly y2: number;
    readonly x: number;
    readonly y: number;
  }
  | { readonly type: "Z" };

/** A point [x, y]. */
export type Point = readonly [number, number];

/** Rasterizer settings; the defaults are the notMNIST-like recipe. */
export interface RasterOptions {
  /** Output side in pixels. */
  readonly size: number;
  /** The glyph's bounding box is scaled so its longer side is this many pixels. */
  readonly box: number;
  /** Samples per pixel along each axis (4 → 16 samples per pixel). */
  readonly supersample: number;
  /** Segments per Bézier curve when flattening. */
  readonly curveSteps: number;
}

/** The recipe's settings: 28 px image, 24 px box, 4×4 samples, 8 segments per curve. */
export const GLYPH_RASTER: RasterOptions = { size: 28, box: 24, supersample: 4, curveSteps: 8 };

/**
 * Flatten path commands into closed polygons. Every contour is closed explicitly: CFF/OTF
 * paths from opentype.js often omit `Z`, and an open contour would make counters (the hole in
 * "A", "B", "D") fill solid.
 */
export function flattenPath(
  commands: ReadonlyArray<PathCommand>,
  curveSteps = GLYPH_RASTER.curveSteps,
): Point[][] {
  const polys: Point[][] = [];
  let cur: Point[] = [];
  let cx = 0, cy = 0;
  for (const c of commands) {
    if (c.type === "M") {
      cur = [[c.x, c.y]];
      polys.push(cur);
      cx = c.x;
      cy = c.y;
    } else if (c.type === "L") {
      cur.push([c.x, c.y]);
      cx = c.x;
      cy = c.y;
    } else if (c.type === "Q") {
      for (let i = 1; i <= curveSteps; i++) {
        const t = i / curveSteps, u = 1 - t;
        cur.push([
          u * u * cx + 2 * u * t * c.x1 + t * t * c.x,
          u * u * cy + 2 * u * t * c.y1 + t * t * c.y,
        ]);
      }
      cx = c.x;
      cy = c.y;
    } else if (c.type === "C") {
      for (let i = 1; i <= curveSteps; i++) {
        const t = i / curveSteps, u = 1 - t;
        cur.push([
          u * u * u * cx + 3 * u * u * t * c.x1 + 3 * u * t * t * c.x2 + t * t * t * c.x,
          u * u * u * cy + 3 * u * u * t * c.y1 + 3 * u * t * t * c.y2 + t * t * t * c.y,
        ]);
      }
      cx = c.x;
      cy = c.y;
    }
    // "Z" needs nothing here: every contour is closed below.
  }
  for (const p of polys) {
    const a = p[0]!, z = p[p.length - 1]!;
    if (a[0] !== z[0] || a[1] !== z[1]) p.push([a[0], a[1]]);
  }
  return polys;
}

/**
 * Fill polygons (nonzero winding) into a `size`×`size` uint8 image, scaled to fit `box` and
 * centred. Returns undefined for an empty or degenerate outline (zero width or height).
 *
 * @example A square fills the centre 24×24 box
 * ```ts
 * import { rasterizePolygons } from "./glyph.ts";
 * const img = rasterizePolygons([[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]);
 * if (img?.[14 * 28 + 14] !== 255 || img?.[0] !== 0) throw new Error("not filled");
 * ```
 */
export function rasterizePolygons(
  polys: ReadonlyArray<ReadonlyArray<Point>>,
  options: RasterOptions = GLYPH_RASTER,
): Uint8Array | undefined {
  const { size: S, box, supersample: SS } = options;
  let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
  for (const p of polys) {
    for (const [x, y] of p) {
      minx = Math.min(minx, x);
      maxx = Math.max(maxx, x);
      miny = Math.min(miny, y);
      maxy = Math.max(maxy, y);
    }
  }
  const w = maxx - minx, h = maxy - miny;
  if (!(w > 0 && h > 0)) return undefined;
  const sc = box / Math.max(w, h);
  const ox = (S - w * sc) / 2, oy = (S - h * sc) / 2;
  // Non-horizontal edges in pixel coordinates: [ax, ay, bx, by].
  const edges: Array<[number, number, number, number]> = [];
  for (const p of polys) {
    for (let i = 0; i + 1 < p.length; i++) {
      const a = p[i]!, b = p[i + 1]!;
      const ax = (a[0] - minx) * sc + ox, ay = (a[1] - miny) * sc + oy;
      const bx = (b[0] - minx) * sc + ox, by = (b[1] - miny) * sc + oy;
      if (ay !== by) edges.push([ax, ay, bx, by]);
    }
  }
  const acc = new Float32Array(S * S);
  const R = S * SS;
  for (let r = 0; r < R; r++) {
    const y = (r + 0.5) / SS;
    const xs: Array<[number, number]> = [];
    for (const [ax, ay, bx, by] of edges) {
      if ((y >= ay && y < by) || (y >= by && y < ay)) {
        xs.push([ax + ((y - ay) * (bx - ax)) / (by - ay), ay < by ? 1 : -1]);
      }
    }
    xs.sort((p, q) => p[0] - q[0]);
    let winding = 0;
    for (let k = 0; k + 1 < xs.length; k++) {
      winding += xs[k]![1];
      if (winding === 0) continue; // nonzero rule: only spans with winding ≠ 0 are inside
      const xa = xs[k]![0] * SS, xb = xs[k + 1]![0] * SS;
      const row = Math.floor(r / SS) * S;
      for (let c = Math.max(0, Math.ceil(xa - 0.5)); c < Math.min(R, Math.ceil(xb - 0.5)); c++) {
        acc[row + Math.floor(c / SS)]! += 1;
      }
    }
  }
  return Uint8Array.from(acc, (v) => Math.min(255, Math.round((v * 255) / (SS * SS))));
}

/** Flatten and rasterize an opentype.js path in one step (the letters recipe). */
export function rasterizeGlyph(
  commands: ReadonlyArray<PathCommand>,
  options: RasterOptions = GLYPH_RASTER,
): Uint8Array | undefined {
  if (commands.length === 0) return undefined;
  return rasterizePolygons(flattenPath(commands, options.curveSteps), options);
}
