/**
 * Histogram maths: quantiles of sorted scores and density histograms over equal bins.
 *
 * @module
 */
/** The `q`-quantile of ascending `sorted` values (linear interpolation between ranks). */
export function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Density histogram of `values` over `bins` equal bins on [lo, hi] (values outside go to the
 * edge bins): count / (n × bin width), so every set integrates to 1 whatever its size.
 */
export function densityHistogram(
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  bins: number,
): ReadonlyArray<{ readonly x0: number; readonly x1: number; readonly density: number }> {
  // A constant score (lo = hi) still gets a visible bar of width 1.
  const width = hi > lo ? (hi - lo) / bins : 1 / bins;
  const base = hi > lo ? lo : lo - 0.5;
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const b = Math.floor((values[i]! - base) / width);
    counts[Math.max(0, Math.min(bins - 1, b))]! += 1;
  }
  return Array.from(counts, (c, b) => ({
    x0: base + b * width,
    x1: base + (b + 1) * width,
    density: c / (values.length * width),
  }));
}
