/**
 * The service's conventions (issue 25, items 3 and 4) over real HTTP on 127.0.0.1 (port 0), with
 * a stand-in detector whose verdict is known from each image's first pixel (below 128: in, above:
 * OOD, 255: a NaN score, invalid): request ids, the JSON access log, liveness and readiness,
 * HEAD/OPTIONS/405 with Allow, the OpenAPI document against the routes the server answers, and
 * the metrics (per-route latency, queue wait, compute, process, build info, verdicts, the OOD
 * share and `/drift`) against the verdicts actually returned. Every wait is bounded.
 */
import assert from "node:assert/strict";
import { Effect, Exit, Schema, Scope } from "effect";
import { encodeNpy } from "../lib/io/mod.ts";
import { VerdictLog } from "../apps/serve/drift.ts";
import { DEFAULT_LIMITS } from "../apps/serve/limits.ts";
import { ServiceMetrics } from "../apps/serve/metrics.ts";
import { loadPage } from "../apps/serve/page.ts";
import { ROUTES, ScoreJsonBody } from "../apps/serve/route_table.ts";
import { makeHandler, type ScoreAnswer } from "../apps/serve/routes.ts";
import { GROOD_VERSION, type RunningService } from "../apps/serve/server.ts";
import { makeBatcher } from "../apps/serve/batcher.ts";
import { standIn, withService } from "./serve_stand_in.ts";

/** Scores an image as its first pixel / 255 (threshold 0.5); a first pixel of 255 is NaN. */
const detector = standIn();

/** A `.npy` batch of images whose first pixels are `firsts` (the rest black). */
const batch = (firsts: ReadonlyArray<number>) => {
  const pixels = new Uint8Array(firsts.length * 784);
  firsts.forEach((p, i) => (pixels[i * 784] = p));
  return Effect.runPromise(encodeNpy(pixels, [firsts.length, 28, 28], "test"));
};

/** `fetch` that fails after 10 s instead of hanging. */
const get = (url: string, init: RequestInit = {}) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });

const score = async (s: RunningService, firsts: ReadonlyArray<number>, headers = {}) =>
  get(`${s.url}/v1/score`, {
    method: "POST",
    headers: { "content-type": "application/x-npy", ...headers },
    body: (await batch(firsts)) as BodyInit,
  });

/** The access-log lines (parsed) of the requests with id `id`. */
const accessLines = (lines: ReadonlyArray<string>, id: string) =>
  lines.map((l) => JSON.parse(l)).filter((l) =>
    l.message === "request" && l.annotations.requestId === id
  );

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

Deno.test("X-Request-Id is echoed or generated, an unsafe one replaced; one JSON access-log line per request", async () => {
  await withService(detector, {}, async (s, lines) => {
    const given = await score(s, [10, 200, 255], { "x-request-id": "req-42.a:b_C" });
    assert.equal(given.status, 200);
    await given.body?.cancel();
    assert.equal(given.headers.get("x-request-id"), "req-42.a:b_C");
    const [line, ...more] = accessLines(lines, "req-42.a:b_C");
    assert.equal(more.length, 0);
    assert.equal(line.level, "INFO");
    const a = line.annotations;
    assert.equal(a.route, "/v1/score");
    assert.equal(a.method, "POST");
    assert.equal(a.status, 200);
    assert.equal(a.images, 3);
    for (const key of ["queueWaitMs", "computeMs", "totalMs"]) {
      assert.equal(typeof a[key], "number", key);
      assert.ok(a[key] >= 0, key);
    }
    assert.ok(a.totalMs >= a.computeMs, JSON.stringify(a));

    const generated = await get(`${s.url}/healthz`);
    await generated.body?.cancel();
    const id = generated.headers.get("x-request-id")!;
    assert.match(id, UUID);
    const health = accessLines(lines, id)[0].annotations;
    assert.equal(health.route, "/healthz");
    assert.equal(health.images, 0);
    assert.equal(health.queueWaitMs, null);

    // Unsafe ids (spaces, a forged JSON fragment, too long) are replaced, never logged.
    for (const unsafe of ["has space", 'x","status":200', "a".repeat(129)]) {
      const r = await get(`${s.url}/nowhere`, { headers: { "x-request-id": unsafe } });
      await r.body?.cancel();
      assert.equal(r.status, 404);
      const replaced = r.headers.get("x-request-id")!;
      assert.match(replaced, UUID, unsafe);
      const logged = accessLines(lines, replaced)[0].annotations;
      assert.equal(logged.requestIdReplaced, true);
      assert.equal(logged.route, "other");
      assert.equal(logged.code, "not_found");
      assert.ok(!lines.some((l) => l.includes(unsafe)), unsafe);
    }
    // Every line is one JSON object.
    for (const l of lines) assert.equal(typeof JSON.parse(l), "object");
    assert.equal(lines.length, lines.join("\n").split("\n").length);
  });
});

Deno.test("livez and readyz answer 200 while serving; while draining readyz is 503, livez 200", async () => {
  await withService(detector, {}, async (s) => {
    for (const path of ["/livez", "/readyz", "/healthz"]) {
      const r = await get(`${s.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.deepEqual(await r.json(), { status: "ok", version: detector.info.version });
    }
  });
  // The listener closes at once when the drain begins, so the routes are asked directly.
  let draining = false;
  const scope = await Effect.runPromise(Scope.make());
  const batcher = await Effect.runPromise(makeBatcher(detector).pipe(Scope.provide(scope)));
  const handler = makeHandler({
    detector,
    batcher,
    metrics: new ServiceMetrics(),
    limits: DEFAULT_LIMITS,
    page: new Map(),
    authorized: () => true,
    draining: () => draining,
  });
  const ask = (path: string) => handler(new Request(`http://127.0.0.1${path}`));
  assert.equal((await ask("/readyz")).status, 200);
  draining = true;
  const ready = await ask("/readyz");
  assert.equal(ready.status, 503);
  assert.equal((await ready.json()).code, "shutting_down");
  assert.equal(ready.headers.get("retry-after"), "1");
  assert.equal((await ask("/livez")).status, 200);
  assert.equal((await ask("/healthz")).status, 503);
  await Effect.runPromise(Scope.close(scope, Exit.void));
});

Deno.test("HEAD where GET is, OPTIONS with Allow, 405 always with Allow", async () => {
  await withService(detector, {}, async (s) => {
    const head = await get(`${s.url}/healthz`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.match(head.headers.get("content-type")!, /json/);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const headMetrics = await get(`${s.url}/metrics`, { method: "HEAD" });
    assert.equal(headMetrics.status, 200);
    assert.equal((await headMetrics.arrayBuffer()).byteLength, 0);
    // The connection is still usable after bodiless answers.
    const after = await get(`${s.url}/healthz`);
    assert.equal(after.status, 200);
    await after.body?.cancel();

    const allow = async (path: string) => {
      const r = await get(`${s.url}${path}`, { method: "OPTIONS" });
      await r.body?.cancel();
      assert.equal(r.status, 204, path);
      return r.headers.get("allow");
    };
    assert.equal(await allow("/v1/score"), "POST, OPTIONS");
    assert.equal(await allow("/healthz"), "GET, HEAD, OPTIONS");
    assert.equal(await allow("/"), "GET, HEAD, OPTIONS");

    for (
      const [path, method, expected] of [
        ["/v1/score", "GET", "POST, OPTIONS"],
        ["/v1/score", "HEAD", "POST, OPTIONS"],
        ["/healthz", "DELETE", "GET, HEAD, OPTIONS"],
        ["/metrics", "POST", "GET, HEAD, OPTIONS"],
      ] as const
    ) {
      const r = await get(`${s.url}${path}`, { method });
      const text = await r.text();
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get("allow"), expected, `${method} ${path}`);
      if (method !== "HEAD") assert.equal(JSON.parse(text).code, "method_not_allowed");
    }
  });
});

Deno.test("/openapi.json lists every route the server answers, and only those", async () => {
  await withService(detector, {}, async (s) => {
    const response = await get(`${s.url}/openapi.json`);
    assert.equal(response.status, 200);
    const doc = await response.json();
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.version, GROOD_VERSION);
    const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    assert.equal(config.version, GROOD_VERSION, "deno.json and GROOD_VERSION disagree");
    const documented = Object.keys(doc.paths);
    // Candidates: the documented paths, the page's files, the switch's routes and non-routes.
    const page = await Effect.runPromise(loadPage());
    const candidates = new Set([
      ...documented,
      ...page.keys(),
      ...["/v1/score", "/v1/detector", "/healthz", "/livez", "/readyz", "/metrics", "/drift"],
      ...["/openapi.json", "/v2/score", "/index.html", "/v1", "/favicon.ico", "/metrics/"],
    ]);
    for (const path of candidates) {
      const r = await get(`${s.url}${path}`, { method: "OPTIONS" });
      await r.body?.cancel();
      if (r.status === 404) {
        assert.ok(!documented.includes(path), `${path} is documented but not answered`);
        continue;
      }
      assert.ok(documented.includes(path), `${path} is answered but not in openapi.json`);
      // Each documented method is answered (not 404/405), and Allow matches the document.
      const methods = Object.keys(doc.paths[path]).map((m) => m.toUpperCase());
      const allow = r.headers.get("allow")!.split(", ").filter((m) => !/HEAD|OPTIONS/.test(m));
      assert.deepEqual(allow.sort(), methods.sort(), path);
      for (const method of methods) {
        const answer = await get(`${s.url}${path}`, { method });
        await answer.body?.cancel();
        assert.ok(![404, 405].includes(answer.status), `${method} ${path}: ${answer.status}`);
      }
    }
    // The JSON body is described by the Schema that decodes it.
    const scoreBody = doc.paths["/v1/score"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(scoreBody, Schema.toJsonSchemaDocument(ScoreJsonBody).schema);
    assert.deepEqual(scoreBody.required, ["images"]);
    const result = doc.paths["/v1/score"].post.responses["200"].content["application/json"].schema;
    assert.deepEqual(result.properties.results.items.properties.verdict.enum, [
      "in",
      "ood",
      "invalid",
    ]);
    assert.equal(new Set(ROUTES.map((r) => r.path)).size, documented.length);
  });
});

/** Sample `name{labels}` in Prometheus text, or undefined. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

Deno.test("metrics: per-route latency, queue wait, compute, process_*, build info; verdicts as returned; OOD share and /drift agree", async () => {
  await withService(detector, {}, async (s) => {
    const metrics = () => get(`${s.url}/metrics`).then((r) => r.text());
    const before = await metrics();
    for (const v of ["in", "ood", "invalid"]) {
      assert.equal(sample(before, `grood_verdicts_total{verdict="${v}"}`), 0, v);
    }
    assert.equal(sample(before, "grood_ood_share"), 0);
    // ID-like (first pixel < 128), OOD-like (> 128) and invalid (255) images, in mixed requests.
    const requests = [[10], [200, 30], [255, 240, 5, 60], [90, 91, 92], [250], [255]];
    const returned = { in: 0, ood: 0, invalid: 0 };
    const answers = await Promise.all(requests.map((firsts) => score(s, firsts)));
    for (const r of answers) {
      assert.equal(r.status, 200);
      const answer = await r.json() as ScoreAnswer;
      for (const result of answer.results) returned[result.verdict] += 1;
    }
    assert.deepEqual(returned, { in: 7, ood: 3, invalid: 2 });
    for (let i = 0; i < 3; i++) await (await get(`${s.url}/healthz`)).body?.cancel();

    const text = await metrics();
    for (const [v, n] of Object.entries(returned)) {
      assert.equal(sample(text, `grood_verdicts_total{verdict="${v}"}`), n, v);
    }
    const share = sample(text, "grood_ood_share")!;
    assert.ok(share >= 0 && share <= 1);
    assert.equal(share, returned.ood / (returned.in + returned.ood));
    assert.equal(sample(text, "grood_ood_window_verdicts"), returned.in + returned.ood);

    // Latency per route: one histogram per route, counting that route's requests.
    assert.equal(
      sample(text, 'grood_request_duration_seconds_count{route="/v1/score"}'),
      requests.length,
    );
    assert.equal(sample(text, 'grood_request_duration_seconds_count{route="/healthz"}'), 3);
    assert.equal(
      sample(text, 'grood_request_duration_seconds_bucket{route="/v1/score",le="+Inf"}'),
      requests.length,
    );
    // Queue wait: one per scored request; compute: one per batch.
    assert.equal(sample(text, "grood_queue_wait_seconds_count"), requests.length);
    const batches = sample(text, "grood_batch_images_count")!;
    assert.ok(batches >= 1);
    assert.equal(sample(text, "grood_batch_compute_seconds_count"), batches);
    assert.ok(sample(text, "grood_requests_in_flight")! >= 1);
    assert.equal(
      sample(
        text,
        `grood_build_info{version="${GROOD_VERSION}",deno="${Deno.version.deno}",` +
          'model_kind="onnx",detector="stand-in"}',
      ),
      1,
    );
    assert.ok(sample(text, "process_resident_memory_bytes")! > 1e6);
    assert.ok(sample(text, "process_heap_bytes")! > 1e5);
    assert.ok(sample(text, "process_cpu_seconds_total")! > 0);
    const start = sample(text, "process_start_time_seconds")!;
    assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600, String(start));
    if (Deno.build.os === "linux") assert.ok(sample(text, "process_open_fds")! > 3);
    // Every family is typed.
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      const name = line.split(/[{ ]/)[0]!.replace(/_(bucket|sum|count)$/, "");
      assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    }

    // /drift: per-minute buckets summing to the counters.
    const drift = await get(`${s.url}/drift`).then((r) => r.json());
    assert.equal(drift.windowSeconds, 300);
    assert.equal(drift.oodShare, share);
    assert.ok(drift.buckets.length >= 1 && drift.buckets.length <= 2);
    for (const key of ["in", "ood", "invalid"] as const) {
      const sum = drift.buckets.reduce((n: number, b: Record<string, number>) => n + b[key]!, 0);
      assert.equal(sum, returned[key], key);
    }
    for (const b of drift.buckets) assert.equal(new Date(b.time).getUTCSeconds(), 0);
  });
});

Deno.test("the OOD share covers the sliding window only", () => {
  let now = 1_000_000;
  const log = new VerdictLog(60, () => now);
  log.record(["ood", "ood", "ood", "invalid"]);
  now += 30_000;
  log.record(["in"]);
  assert.deepEqual(log.oodShare(), { share: 0.75, verdicts: 4 });
  now += 31_000; // the first record is now older than 60 s
  assert.deepEqual(log.oodShare(), { share: 0, verdicts: 1 });
  now += 60_000;
  assert.deepEqual(log.oodShare(), { share: 0, verdicts: 0 });
  assert.deepEqual(log.totals(), { in: 1, ood: 3, invalid: 1 });
  const buckets = log.buckets();
  assert.equal(buckets.reduce((n, b) => n + b.ood + b.in + b.invalid, 0), 5);
});
