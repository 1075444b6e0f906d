// The scoring page: reads the detector's metadata, draws its validation histogram, scores a
// picked or dropped image through POST /v1/score, and polls GET /drift for the OOD share per
// minute since start. Plain ES modules, no dependencies, no network beyond this service.
import { drawDrift, drawHistogram } from "./charts.js";

/** How often the drift chart asks the service, in milliseconds. */
const DRIFT_POLL_MS = 5000;

const $ = (id) => document.getElementById(id);
let detector;
/** The last finite score shown (kept across redraws of the histogram). */
let lastScore;
let lastDrift;
let token = sessionStorage.getItem("grood-token") ?? "";
/** False while the service wants a token the page does not have (polling stops). */
let authorised = true;

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
    if (response.status === 401) {
      authorised = false;
      $("auth").hidden = false;
    }
    const error = new Error(body.message ?? `HTTP ${response.status}`);
    error.code = body.code;
    throw error;
  }
  return body;
}

function redrawHistogram() {
  if (detector !== undefined) drawHistogram($("histogram-chart"), detector, lastScore);
}

function redrawDrift() {
  if (lastDrift !== undefined) drawDrift($("drift-chart"), lastDrift, Date.now());
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
  authorised = true;
  $("auth").hidden = true;
  const auroc = detector.validation.auroc;
  $("detector").textContent = `${detector.kind} detector ${detector.version} · input ` +
    `${detector.input.width}×${detector.input.height}×${detector.input.channels} · ` +
    `validation AUROC ${auroc === undefined ? "n/a" : (100 * auroc).toFixed(1) + "%"}`;
  redrawHistogram();
  pollDrift();
}

const percent = (share) => `${(100 * share).toFixed(share > 0 && share < 0.1 ? 1 : 0)}%`;

let polling = false;
/** Asked for while a request was out: ask again when it is answered. */
let pollAgain = false;
/** Ask `/drift` once (skipped while a token is missing; repeated once after one in flight). */
async function pollDrift() {
  if (!authorised) return;
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  try {
    lastDrift = await call("/drift");
  } catch {
    return;
  } finally {
    polling = false;
    if (pollAgain) {
      pollAgain = false;
      setTimeout(pollDrift, 0);
    }
  }
  const d = lastDrift;
  const totals = d.buckets.reduce(
    (t, b) => ({ in: t.in + b.in, ood: t.ood + b.ood, invalid: t.invalid + b.invalid }),
    { in: 0, ood: 0, invalid: 0 },
  );
  const since = new Date(d.start).toLocaleTimeString([], { hour12: false });
  const minutes = Math.round(d.windowSeconds / 60);
  $("drift-summary").textContent = d.windowVerdicts === 0
    ? `No image scored in the last ${minutes} min. Since ${since}: ${totals.in} in, ` +
      `${totals.ood} OOD, ${totals.invalid} invalid.`
    : `${percent(d.oodShare)} OOD over the last ${minutes} min (${d.windowVerdicts} ` +
      `verdict${
        d.windowVerdicts === 1 ? "" : "s"
      }). Since ${since}: ${totals.in} in, ${totals.ood} OOD, ${totals.invalid} invalid.`;
  $("drift-summary").dataset.share = String(d.oodShare);
  redrawDrift();
}

/** Forget the previous image: no preview, no verdict, no marker. */
function clearImage() {
  const preview = $("preview");
  if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
  preview.removeAttribute("src");
  preview.hidden = true;
  $("drop").classList.remove("has-image");
  $("result").hidden = true;
  lastScore = undefined;
  redrawHistogram();
}

/** Show `file` in the drop zone once the browser has decoded it (never a broken image). */
function showPreview(file) {
  const preview = $("preview");
  preview.onload = () => {
    preview.hidden = false;
    $("drop").classList.add("has-image");
  };
  preview.onerror = () => {
    preview.removeAttribute("src");
    preview.hidden = true;
  };
  preview.src = URL.createObjectURL(file);
}

const refusal = (file, error) => {
  const name = file.name === "" ? "This file" : `“${file.name}”`;
  if (["unsupported_media_type", "undecodable_image", "empty_body"].includes(error.code)) {
    return `${name} is not an image the service can read: pick a PNG, JPEG or WebP image. ` +
      `(The service said: ${error.message})`;
  }
  return `${name} could not be scored: ${error.message}`;
};

/** Counts the images picked: only the latest one's answer is shown. */
let picked = 0;

async function score(file) {
  const mine = ++picked;
  problem("");
  clearImage();
  showPreview(file);
  let answer;
  try {
    answer = await call("/v1/score", {
      method: "POST",
      headers: { "content-type": file.type || "application/octet-stream" },
      body: file,
    });
  } catch (error) {
    if (mine !== picked) return;
    clearImage();
    problem(refusal(file, error));
    return;
  } finally {
    pollDrift();
  }
  if (mine !== picked) return;
  const result = answer.results[0];
  const verdict = $("verdict");
  $("threshold").textContent = result.threshold.toPrecision(6);
  $("result").hidden = false;
  if (result.verdict === "invalid") {
    // No finite score: never shown as in distribution, and not placed on the histogram.
    verdict.textContent = `No valid score (${result.problem}): do not trust the classifier on ` +
      "this image";
    verdict.className = "ood";
    $("score").textContent = "none";
    $("score").dataset.score = "";
    $("class").textContent = "n/a";
    return;
  }
  verdict.textContent = result.isOod
    ? "Out of distribution: do not trust the classifier on this image"
    : "In distribution";
  verdict.className = result.isOod ? "ood" : "id";
  $("score").textContent = result.score.toPrecision(6);
  $("score").dataset.score = String(result.score);
  $("class").textContent = result.className ?? String(result.predicted);
  lastScore = result.score;
  redrawHistogram();
}

$("file").addEventListener("change", (event) => {
  const file = event.target.files?.[0];
  if (file !== undefined) score(file);
  event.target.value = "";
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
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    $("file").click();
  }
});
$("use-token").addEventListener("click", () => {
  token = $("token").value.trim();
  sessionStorage.setItem("grood-token", token);
  loadDetector();
});

// The charts are drawn at their box's width: redraw them when it changes.
let lastWidth = 0;
new ResizeObserver(() => {
  const width = $("histogram").clientWidth;
  if (width === lastWidth) return;
  lastWidth = width;
  redrawHistogram();
  redrawDrift();
}).observe(document.querySelector("main"));

setInterval(pollDrift, DRIFT_POLL_MS);
loadDetector();
