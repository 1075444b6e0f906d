/**
 * Clustered test points for the k-NN tests: rows drawn around Gaussian centres, like per-class
 * features (on which HNSW-style indexes reach their usual recall, unlike uniform noise).
 *
 * @module
 */
import type { Matrix } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Rows drawn around `clusters` Gaussian centres (spread 4, noise 1), like per-class features. */
export function clusteredMatrix(
  rows: number,
  cols: number,
  clusters: number,
  seed: number,
): Matrix {
  const centreRandom = mulberry32(99);
  const centres = Array.from({ length: clusters * cols }, () => 4 * gaussian(centreRandom));
  const random = mulberry32(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const c = Math.floor(random() * clusters);
    for (let j = 0; j < cols; j++) data[i * cols + j] = centres[c * cols + j]! + gaussian(random);
  }
  return { rows, cols, data };
}
