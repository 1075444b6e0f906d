// The scoring page: reads the detector's metadata, draws its validation histogram, and scores a
// picked or dropped image through POST /v1/score. Plain ES module, no dependencies, no network
// beyond this service.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 260;
const PAD = { left: 40, right: 12, top: 12, bottom: 34 };

const $ = (id) => document.getElementById(id);
let detector;
let token = sessionStorage.getItem("grood-token") ?? "";

const authHeaders = () => (token === "" ? {} : { authorization: `Bearer ${token}` });

/** Show a problem (or clear it with ""). */
function problem(text) {
  $("problem").textContent = text;
  $("problem").hidden = text === "";
}

/** A JSON answer, or an Error carrying the service's {code, message}. */
async function call(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { ...init.headers, ...authHeaders() } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) $("auth").hidden = false;
    const error = new Error(body.message ?? `HTTP ${response.status}`);
    error.code = body.code;
    throw error;
  }
  return body;
}

function svgElement(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  parent.append(element);
  return element;
}

/** x position of a score (clamped to the plotted range). */
function xOf(score) {
  const edges = detector.histogram.edges;
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const t = Math.min(1, Math.max(0, (score - lo) / (hi - lo)));
  return PAD.left + t * (WIDTH - PAD.left - PAD.right);
}

function drawHistogram() {
  const svg = document.querySelector("#histogram svg");
  svg.replaceChildren();
  const { edges, id, ood } = detector.histogram;
  const total = (counts) => counts.reduce((a, b) => a + b, 0) || 1;
  const shares = [
    ["bar-id", id.map((c) => c / total(id))],
    ["bar-ood", ood.map((c) => c / total(ood))],
  ];
  const top = Math.max(...shares.flatMap(([, s]) => s)) || 1;
  const base = HEIGHT - PAD.bottom;
  const yOf = (share) => base - (share / top) * (base - PAD.top);
  for (const [cls, values] of shares) {
    values.forEach((share, i) => {
      if (share === 0) return;
      const x0 = xOf(edges[i]);
      const x1 = xOf(edges[i + 1]);
      svgElement("rect", {
        class: cls,
        x: x0,
        y: yOf(share),
        width: Math.max(1, x1 - x0 - 1),
        height: base - yOf(share),
      }, svg);
    });
  }
  svgElement("line", {
    class: "axis-line",
    x1: PAD.left,
    x2: WIDTH - PAD.right,
    y1: base,
    y2: base,
    stroke: "#9aa5b1",
  }, svg);
  for (const at of [edges[0], edges[edges.length - 1]]) {
    const label = svgElement("text", {
      class: "axis",
      x: xOf(at),
      y: base + 16,
      "text-anchor": "middle",
    }, svg);
    label.textContent = at.toPrecision(3);
  }
  const t = xOf(detector.threshold);
  svgElement("line", { class: "threshold", x1: t, x2: t, y1: PAD.top, y2: base }, svg);
  const label = svgElement("text", { class: "axis", x: t + 4, y: PAD.top + 10 }, svg);
  label.textContent = `threshold ${detector.threshold.toPrecision(3)}`;
  const caption = svgElement("text", {
    class: "axis",
    x: WIDTH / 2,
    y: HEIGHT - 4,
    "text-anchor": "middle",
  }, svg);
  caption.textContent = "score (higher = more likely out of distribution)";
}

function placeMarker(score) {
  const svg = document.querySelector("#histogram svg");
  svg.querySelector(".marker")?.remove();
  const x = xOf(score);
  svgElement("line", {
    class: "marker",
    x1: x,
    x2: x,
    y1: PAD.top,
    y2: HEIGHT - PAD.bottom,
    "data-score": score,
  }, svg);
}

async function loadDetector() {
  try {
    detector = await call("/v1/detector");
  } catch (error) {
    $("detector").textContent = "The detector's metadata is not available.";
    problem(error.message);
    return;
  }
  problem("");
  $("auth").hidden = true;
  const auroc = detector.validation.auroc;
  $("detector").textContent = `${detector.kind} detector ${detector.version} · input ` +
    `${detector.input.width}×${detector.input.height}×${detector.input.channels} · ` +
    `validation AUROC ${auroc === undefined ? "n/a" : (100 * auroc).toFixed(1) + "%"}`;
  drawHistogram();
}

async function score(file) {
  problem("");
  const preview = $("preview");
  if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  $("result").hidden = true;
  let answer;
  try {
    answer = await call("/v1/score", {
      method: "POST",
      headers: { "content-type": file.type || "application/octet-stream" },
      body: file,
    });
  } catch (error) {
    problem(error.message);
    return;
  }
  const result = answer.results[0];
  const verdict = $("verdict");
  if (result.verdict === "invalid") {
    // No finite score: never shown as in distribution, and not placed on the histogram.
    verdict.textContent = `No valid score (${result.problem}): do not trust the classifier on ` +
      "this image";
    verdict.className = "ood";
    $("score").textContent = "none";
    $("score").dataset.score = "";
    $("threshold").textContent = result.threshold.toPrecision(6);
    $("class").textContent = "n/a";
    $("result").hidden = false;
    return;
  }
  verdict.textContent = result.isOod
    ? "Out of distribution: do not trust the classifier on this image"
    : "In distribution";
  verdict.className = result.isOod ? "ood" : "id";
  $("score").textContent = result.score.toPrecision(6);
  $("score").dataset.score = String(result.score);
  $("threshold").textContent = result.threshold.toPrecision(6);
  $("class").textContent = result.className ?? String(result.predicted);
  $("result").hidden = false;
  if (detector !== undefined) placeMarker(result.score);
}

$("file").addEventListener("change", (event) => {
  const file = event.target.files?.[0];
  if (file !== undefined) score(file);
});
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer?.files?.[0];
  if (file !== undefined) score(file);
});
$("use-token").addEventListener("click", () => {
  token = $("token").value.trim();
  sessionStorage.setItem("grood-token", token);
  loadDetector();
});

loadDetector();
