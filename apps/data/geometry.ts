/**
 * The geometry of the OOD set builders' gray images: wrapping square crops, the ink's bounding
 * box, padding to a square, and the area-average resize down to 28×28 (`SIDE`), rounded to
 * uint8 once at the end (docs/benchmarks.md).
 *
 * @module
 */
import type { GrayImage } from "./image.ts";

/** Side of every generated image. */
export const SIDE = 28;

/**
 * Square crop of side `side` with its top-left corner at (x, y). Coordinates wrap around the
 * image edges, which suits tileable textures (GIMP patterns are made to tile) and lets a
 * pattern smaller than the crop be tiled rather than stretched.
 */
export function cropWrap(img: GrayImage, x: number, y: number, side: number): GrayImage {
  const out = new Float32Array(side * side);
  for (let r = 0; r < side; r++) {
    const sy = (((y + r) % img.height) + img.height) % img.height;
    for (let c = 0; c < side; c++) {
      const sx = (((x + c) % img.width) + img.width) % img.width;
      out[r * side + c] = img.data[sy * img.width + sx]!;
    }
  }
  return { width: side, height: side, data: out };
}

/**
 * Tight bounding box of the pixels above `threshold`, or undefined when none is. Used to centre
 * an object before it is padded to a square.
 */
export function inkBounds(
  img: GrayImage,
  threshold = 0,
): { x: number; y: number; width: number; height: number } | undefined {
  let minX = img.width, minY = img.height, maxX = -1, maxY = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.data[y * img.width + x]! > threshold) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  if (maxX < 0) return undefined;
  return { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/**
 * Cut the rectangle (x, y, width, height) out of `img` and centre it on a black square whose
 * side is the rectangle's longer side times `1 + 2·margin` (rounded), so a wide object keeps
 * its aspect ratio and leaves a dark border like MNIST digits do.
 */
export function padToSquare(
  img: GrayImage,
  rect: { x: number; y: number; width: number; height: number },
  margin = 0,
): GrayImage {
  const side = Math.max(1, Math.round(Math.max(rect.width, rect.height) * (1 + 2 * margin)));
  const out = new Float32Array(side * side);
  const ox = Math.floor((side - rect.width) / 2);
  const oy = Math.floor((side - rect.height) / 2);
  for (let r = 0; r < rect.height; r++) {
    for (let c = 0; c < rect.width; c++) {
      out[(oy + r) * side + ox + c] = img.data[(rect.y + r) * img.width + rect.x + c]!;
    }
  }
  return { width: side, height: side, data: out };
}

/** For each output cell along one axis, the source cells it covers and their weights. */
function areaWeights(src: number, dst: number): Array<Array<[number, number]>> {
  const scale = src / dst;
  const out: Array<Array<[number, number]>> = [];
  for (let i = 0; i < dst; i++) {
    const a = i * scale;
    const b = (i + 1) * scale;
    const cells: Array<[number, number]> = [];
    for (let s = Math.floor(a); s < Math.min(src, Math.ceil(b)); s++) {
      const overlap = Math.min(b, s + 1) - Math.max(a, s);
      if (overlap > 0) cells.push([s, overlap / scale]);
    }
    out.push(cells);
  }
  return out;
}

/**
 * Area-average resize: every output pixel is the mean of the source area it covers (fractional
 * coverage weighted). Why: it is the right filter for large reductions (a 2000 px image to 28)
 * where point or bilinear sampling would alias. Upscaling (src < dst) replicates pixels.
 *
 * @example 4×4 → 2×2 averages each 2×2 block
 * ```ts
 * import { areaResize } from "./geometry.ts";
 * const img = { width: 4, height: 4, data: new Float32Array([0,0,4,4, 0,0,4,4, 8,8,12,12, 8,8,12,12]) };
 * const out = areaResize(img, 2, 2);
 * if (out.data.join() !== "0,4,8,12") throw new Error("wrong resize");
 * ```
 */
export function areaResize(img: GrayImage, width: number, height: number): GrayImage {
  const wx = areaWeights(img.width, width);
  const wy = areaWeights(img.height, height);
  // Horizontal pass: height(src) × width(dst).
  const tmp = new Float32Array(img.height * width);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (const [s, w] of wx[x]!) acc += img.data[row + s]! * w;
      tmp[y * width + x] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (const [s, w] of wy[y]!) acc += tmp[s * width + x]! * w;
      out[y * width + x] = acc;
    }
  }
  return { width, height, data: out };
}

/** Round and clamp float gray values to uint8. */
export function toUint8(img: GrayImage): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(img.data[i]!);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Crop a square (wrapping), area-average it to 28×28 and round to uint8. */
export function cropTo28(img: GrayImage, x: number, y: number, side: number): Uint8Array {
  return toUint8(areaResize(cropWrap(img, x, y, side), SIDE, SIDE));
}
