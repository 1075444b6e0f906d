// The page's two charts, drawn as SVG at the pixel width of their box (so the text keeps its size
// on a phone): the validation score histogram on a log scale, and the OOD share per minute since
// the service started. Plain ES module, no dependencies.

const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  parent.append(element);
  return element;
}

function label(parent, text, attributes) {
  const element = svgElement("text", { class: "axis", ...attributes }, parent);
  element.textContent = text;
  return element;
}

/** Size `svg` to its box's width (at least 240 px) and `height`; returns the width. */
function sized(svg, height) {
  const width = Math.max(240, Math.floor(svg.parentElement.clientWidth));
  svg.replaceChildren();
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return width;
}

/** Move every text of `svg` until it lies inside its box (labels near the edges). */
function keepLabelsInside(svg, width, height) {
  for (const text of svg.querySelectorAll("text")) {
    const box = text.getBBox();
    const x = Number(text.getAttribute("x"));
    const y = Number(text.getAttribute("y"));
    if (box.x < 1) text.setAttribute("x", x + (1 - box.x));
    else if (box.x + box.width > width - 1) {
      text.setAttribute("x", x - (box.x + box.width - (width - 1)));
    }
    if (box.y < 1) text.setAttribute("y", y + (1 - box.y));
    else if (box.y + box.height > height - 1) {
      text.setAttribute("y", y - (box.y + box.height - (height - 1)));
    }
  }
}

/**
 * The histogram's score scale: x ∝ log10(score − lo + d), d = (hi − lo) / 10⁴, so the plot spans
 * four decades above the lowest validation score (nearly all ID scores sit in the lowest 1% of a
 * linear range).
 */
export function logScale(edges, left, right) {
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const d = (hi - lo) / 1e4 || 1e-12;
  const f = (score) => Math.log10(Math.min(hi, Math.max(lo, score)) - lo + d);
  const f0 = f(lo);
  const f1 = f(hi);
  return (score) => left + ((f(score) - f0) / (f1 - f0)) * (right - left);
}

/** Tick values for the log scale: powers of ten (and 0) inside [lo, hi], spaced ≥ 48 px apart. */
function ticks(edges, xOf) {
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const values = [];
  for (let k = -12; k <= 12; k++) values.push(10 ** k, -(10 ** k));
  values.push(0);
  const inside = values.filter((v) => v >= lo && v <= hi).sort((a, b) => a - b);
  const kept = [];
  for (const v of inside) {
    if (kept.length === 0 || xOf(v) - xOf(kept[kept.length - 1]) >= 48) kept.push(v);
  }
  return kept;
}

const tickText = (
  v,
) => (v === 0
  ? "0"
  : Math.abs(Math.log10(Math.abs(v))) > 3
  ? v.toExponential(0)
  : String(Number(v.toPrecision(1))));

/**
 * Draw the validation histogram of `detector` (edges, id and ood counts, threshold) into `svg`,
 * with a marker at `score` when it is a number. Bar areas are each set's share of its images.
 */
export function drawHistogram(svg, detector, score) {
  const height = 220;
  const width = sized(svg, height);
  const pad = { left: 8, right: 8, top: 24, bottom: 40 };
  const { edges, id, ood } = detector.histogram;
  const xOf = logScale(edges, pad.left, width - pad.right);
  const base = height - pad.bottom;
  svg.dataset.left = String(pad.left);
  svg.dataset.right = String(width - pad.right);
  const total = (counts) => counts.reduce((a, b) => a + b, 0) || 1;
  const bars = [["bar-id", id, total(id)], ["bar-ood", ood, total(ood)]].flatMap(([cls, c, n]) =>
    c.map((count, i) => {
      const x0 = xOf(edges[i]);
      const x1 = xOf(edges[i + 1]);
      return { cls, count, x0, x1, density: count / n / Math.max(0.5, x1 - x0) };
    }).filter((bar) => bar.count > 0)
  );
  const top = Math.max(...bars.map((b) => b.density)) || 1;
  for (const bar of bars) {
    const h = (bar.density / top) * (base - pad.top);
    svgElement("rect", {
      class: bar.cls,
      x: bar.x0,
      y: base - h,
      width: Math.max(0.5, bar.x1 - bar.x0 - 0.5),
      height: h,
      "data-count": bar.count,
    }, svg);
  }
  svgElement("line", {
    class: "axis-line",
    x1: pad.left,
    x2: width - pad.right,
    y1: base,
    y2: base,
  }, svg);
  for (const v of ticks(edges, xOf)) {
    const x = xOf(v);
    svgElement("line", { class: "axis-line", x1: x, x2: x, y1: base, y2: base + 4 }, svg);
    label(svg, tickText(v), { x, y: base + 16, "text-anchor": "middle" });
  }
  const t = xOf(detector.threshold);
  svgElement("line", { class: "threshold", x1: t, x2: t, y1: pad.top - 6, y2: base }, svg);
  const thresholdLabel = `threshold ${detector.threshold.toPrecision(3)}`;
  label(svg, thresholdLabel, {
    x: t > width / 2 ? t - 4 : t + 4,
    y: pad.top - 8,
    "text-anchor": t > width / 2 ? "end" : "start",
  });
  label(svg, "score, log scale (higher = more likely OOD)", {
    x: width / 2,
    y: height - 6,
    "text-anchor": "middle",
  });
  if (typeof score === "number" && Number.isFinite(score)) {
    const x = xOf(score);
    svgElement("line", {
      class: "marker",
      x1: x,
      x2: x,
      y1: pad.top - 6,
      y2: base,
      "data-score": score,
    }, svg);
    const right = x < width / 2;
    label(svg, "your image", {
      class: "axis marker-label",
      x: right ? x + 5 : x - 5,
      y: pad.top + 10,
      "text-anchor": right ? "start" : "end",
    });
  }
  keepLabelsInside(svg, width, height);
}

const clock = (ms, long = false) =>
  new Date(ms).toLocaleString([], {
    ...(long ? { month: "short", day: "numeric" } : {}),
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });

/**
 * Merge consecutive minutes into spans of `step` minutes (aligned on `t0`), `step` the smallest
 * that leaves at most `most` points; counts are summed, so they still add up to `/drift`'s.
 */
function grouped(buckets, t0, t1, minute, most) {
  const step = Math.max(1, Math.ceil((t1 - t0) / minute / Math.max(1, most)));
  const groups = new Map();
  for (const b of buckets) {
    const time = Date.parse(b.time);
    const start = step === 1
      ? time
      : t0 + Math.floor((time - t0) / (step * minute)) * step * minute;
    const g = groups.get(start) ??
      { time: new Date(start).toISOString(), start, in: 0, ood: 0, invalid: 0 };
    g.in += b.in;
    g.ood += b.ood;
    g.invalid += b.invalid;
    groups.set(start, g);
  }
  return { step, groups: [...groups.values()] };
}

/**
 * Draw `/drift`'s answer into `svg`: one point per minute with verdicts (per span of minutes when
 * there are more minutes than room), at its OOD share (ood / (in + ood)), over the time since
 * start (`now`, ms since the epoch, closes the axis).
 */
export function drawDrift(svg, drift, now) {
  const height = 180;
  const width = sized(svg, height);
  const pad = { left: 40, right: 10, top: 10, bottom: 30 };
  const minute = drift.bucketSeconds * 1000;
  const t0 = Math.floor(Date.parse(drift.start) / minute) * minute;
  const t1 = Math.max(t0 + minute, Math.floor(now / minute) * minute + minute);
  const long = t1 - t0 > 86_400_000;
  const xOf = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const base = height - pad.bottom;
  const yOf = (share) => base - share * (base - pad.top);
  svg.dataset.top = String(pad.top);
  svg.dataset.bottom = String(base);
  for (const share of [0, 0.5, 1]) {
    const y = yOf(share);
    svgElement("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: y, y2: y }, svg);
    label(svg, `${share * 100}%`, { x: pad.left - 4, y: y + 4, "text-anchor": "end" });
  }
  label(svg, clock(t0, long), { x: pad.left, y: base + 16, "text-anchor": "start" });
  label(svg, clock(t1, long), { x: width - pad.right, y: base + 16, "text-anchor": "end" });
  const { step, groups } = grouped(
    drift.buckets,
    t0,
    t1,
    minute,
    Math.floor((width - pad.left - pad.right) / 6),
  );
  svg.dataset.minutesPerPoint = String(step);
  const points = groups.map((g) => {
    const scored = g.in + g.ood;
    return {
      ...g,
      x: xOf(Math.min(t1, Date.parse(g.time) + (step * minute) / 2)),
      share: scored === 0 ? null : g.ood / scored,
    };
  });
  if (points.length === 0) {
    label(svg, "no verdicts yet", {
      x: (pad.left + width - pad.right) / 2,
      y: yOf(0.5) - 6,
      "text-anchor": "middle",
    });
  }
  const drawn = points.filter((p) => p.share !== null);
  if (drawn.length > 1) {
    svgElement("polyline", {
      class: "drift-line",
      points: drawn.map((p) => `${p.x},${yOf(p.share)}`).join(" "),
    }, svg);
  }
  for (const p of points) {
    // A span with only invalid verdicts has no share: a hollow mark on the baseline.
    const point = svgElement("circle", {
      class: p.share === null ? "point none" : "point",
      cx: p.x,
      cy: yOf(p.share ?? 0),
      r: points.length > 60 ? 2.5 : 4,
      "data-time": p.time,
      "data-in": p.in,
      "data-ood": p.ood,
      "data-invalid": p.invalid,
      "data-share": p.share ?? "",
    }, svg);
    const title = svgElement("title", {}, point);
    const from = Date.parse(p.time);
    title.textContent = `${clock(from, long)}` +
      (step > 1 ? `–${clock(from + step * minute, long)}` : "") +
      `: ${p.ood} OOD of ${p.in + p.ood}` + (p.invalid > 0 ? `, ${p.invalid} invalid` : "");
  }
  keepLabelsInside(svg, width, height);
}
