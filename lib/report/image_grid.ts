/**
 * A grid of 28×28 images with captions, as an SVG (each tile a PNG data URI).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { encode as encodePng } from "fast-png";
import { IMAGE_SIDE, IMAGE_SIZE } from "../data/images.ts";
import { escapeXml, PLOT_FONT, PlotInputError } from "./chart.ts";

/** Options of `imageGridSvg`. */
export interface ImageGridOptions {
  /** Tiles per row (default 8). */
  readonly columns?: number;
  /** Integer upscale of each 28×28 tile (default 3). */
  readonly scale?: number;
  /** A heading above the grid (none when absent). */
  readonly title?: string;
}

/**
 * 28×28 uint8 images (as in an `ImageSet`) with a caption under each (`\n` starts a line), as an
 * SVG. Tiles are PNG data URIs upscaled in the PNG itself, so a browser and resvg agree.
 */
export function imageGridSvg(
  pixels: Uint8Array,
  captions: ReadonlyArray<string>,
  options: ImageGridOptions = {},
): string {
  const count = captions.length;
  if (pixels.length < count * IMAGE_SIZE) {
    throw new PlotInputError({
      plot: "the image grid",
      problem: `${count} captions but pixels for ${Math.floor(pixels.length / IMAGE_SIZE)} images`,
    });
  }
  const columns = Math.max(1, Math.min(options.columns ?? 8, count));
  const scale = options.scale ?? 3;
  const side = IMAGE_SIDE * scale;
  const gap = 8;
  const lines = captions.map((c) => c.split("\n"));
  const lineHeight = 13;
  const captionHeight = 4 + lineHeight * Math.max(1, ...lines.map((l) => l.length));
  const top = options.title === undefined ? 0 : 24;
  // About 6.2 px per character at 11 px DejaVu Sans: wide enough that captions never overlap.
  const longest = Math.max(0, ...lines.flatMap((l) => l.map((t) => t.length)));
  const cellWidth = Math.max(side, Math.ceil(longest * 6.2) + 6);
  const rows = Math.ceil(count / columns);
  const width = columns * (cellWidth + gap) + gap;
  const height = top + rows * (side + captionHeight + gap) + gap;
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="${PLOT_FONT}, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title !== undefined) {
    parts.push(
      `<text x="${gap}" y="17" font-size="14" font-weight="bold">${
        escapeXml(options.title)
      }</text>`,
    );
  }
  for (let k = 0; k < count; k++) {
    const tile = new Uint8Array(side * side);
    const base = k * IMAGE_SIZE;
    for (let y = 0; y < side; y++) {
      const row = base + Math.floor(y / scale) * IMAGE_SIDE;
      for (let x = 0; x < side; x++) tile[y * side + x] = pixels[row + Math.floor(x / scale)]!;
    }
    const png = encodePng({ width: side, height: side, data: tile, channels: 1, depth: 8 });
    const x = gap + (k % columns) * (cellWidth + gap);
    const y = top + gap + Math.floor(k / columns) * (side + captionHeight + gap);
    parts.push(
      `<image x="${x + (cellWidth - side) / 2}" y="${y}" width="${side}" height="${side}" ` +
        `href="data:image/png;base64,${Buffer.from(png).toString("base64")}"/>`,
      `<text x="${x + cellWidth / 2}" y="${y + side + 12}" text-anchor="middle">${
        lines[k]!.map((line, i) =>
          `<tspan x="${x + cellWidth / 2}" dy="${i === 0 ? 0 : lineHeight}">${
            escapeXml(line)
          }</tspan>`
        ).join("")
      }</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}
