/**
 * The scoring service over real HTTP on a free port, serving GROOD fitted in this process:
 * answers equal offline scoring within 1e-6 in every body form, concurrent requests share
 * micro-batches, every malformed input gets its 4xx and the service goes on serving, the token
 * is enforced, metrics count what happened, and shutdown lets requests in flight finish.
 */
import assert from "node:assert/strict";
import { Effect, Exit, Scope } from "effect";
import sharp from "sharp";
import { IMAGE_SIZE } from "../lib/data/mod.ts";
import { encodeNpy } from "../lib/io/mod.ts";
import { type RunningService, serveDetector } from "../apps/serve/server.ts";
import type { ScoreAnswer } from "../apps/serve/routes.ts";
import { imageHeader } from "../apps/serve/decode.ts";
import { decodeImage, GREY_28 } from "../lib/sources/mod.ts";
import {
  closeDetector,
  detector,
  mnistTest,
  offlineScores,
  pngImage,
  rawImage,
} from "./serve_detector.ts";
import { held, withService } from "./serve_stand_in.ts";
import { waitFor } from "../apps/cluster/loopback.ts";

const post = (
  service: RunningService,
  type: string,
  body: string | Uint8Array,
  headers = {},
) =>
  fetch(`${service.url}/v1/score`, {
    method: "POST",
    headers: { "content-type": type, ...headers },
    body: body as BodyInit,
  });

const close = (a: number | null, b: number) => a !== null && Math.abs(a - b) <= 1e-6;

/** Assert a refusal: status, JSON `{code, message}`. */
async function assertRefused(response: Response, status: number, code: string, what: string) {
  const body = await response.json();
  assert.equal(response.status, status, `${what}: ${JSON.stringify(body)}`);
  assert.equal(body.code, code, what);
  assert.equal(typeof body.message, "string", what);
  assert.ok(body.message.length > 10, what);
}

Deno.test("PNG, JPEG, WebP, JSON and .npy bodies get the offline scores within 1e-6", async () => {
  const indices = Array.from({ length: 24 }, (_, i) => 100 + i * 7);
  const offline = await offlineScores(indices);
  const pngs = await Promise.all(indices.map(pngImage));
  await withService(detector, {}, async (service) => {
    // One PNG per request, all at once: they share micro-batches.
    const answers = await Promise.all(
      pngs.map((png) =>
        post(service, "image/png", png).then((r) => r.json() as Promise<ScoreAnswer>)
      ),
    );
    answers.forEach((answer, k) => {
      const result = answer.results[0]!;
      assert.equal(answer.results.length, 1);
      assert.ok(close(result.score, offline.scores[k]!), `image ${indices[k]}`);
      assert.equal(result.predicted, offline.predicted[k]);
      assert.equal(result.isOod, offline.isOod[k]);
      assert.equal(result.isOod, result.score! > detector.info.threshold);
      assert.equal(result.verdict, result.isOod ? "ood" : "in");
      assert.equal(result.threshold, detector.info.threshold);
      assert.equal(result.detectorVersion, detector.info.version);
      assert.equal(result.className, String(result.predicted));
    });
    // The classifier is right on most of these digits (it is 99% accurate).
    const right = answers.filter((a, k) =>
      a.results[0]!.predicted === mnistTest.labels[indices[k]!]
    );
    assert.ok(right.length >= 22, `${right.length} of 24 right`);

    // JSON: base64 and data: URLs, in order.
    const images = pngs.map((png, k) => {
      const text = btoa(String.fromCharCode(...png));
      return k % 2 === 0 ? text : `data:image/png;base64,${text}`;
    });
    const json = await post(service, "application/json", JSON.stringify({ images }));
    const jsonAnswer = await json.json() as ScoreAnswer;
    assert.equal(json.status, 200);
    assert.deepEqual(
      jsonAnswer.results.map((r, k) => close(r.score, offline.scores[k]!)),
      indices.map(() => true),
    );

    // .npy: uint8 (N, 28, 28) and (N, 28, 28, 1).
    const pixels = new Uint8Array(indices.length * IMAGE_SIZE);
    indices.forEach((i, k) => pixels.set(rawImage(i), k * IMAGE_SIZE));
    for (const shape of [[indices.length, 28, 28], [indices.length, 28, 28, 1]]) {
      const npy = await Effect.runPromise(encodeNpy(pixels, shape, "test"));
      const answer = await post(service, "application/x-npy", npy).then((r) =>
        r.json()
      ) as ScoreAnswer;
      assert.deepEqual(
        answer.results.map((r, k) => close(r.score, offline.scores[k]!)),
        indices.map(() => true),
        `npy ${shape}`,
      );
    }

    // JPEG is lossy: its answer is the offline score of the JPEG's decoded pixels.
    const jpeg = new Uint8Array(
      await sharp(rawImage(5), { raw: { width: 28, height: 28, channels: 1 } }).jpeg().toBuffer(),
    );
    const decoded = await Effect.runPromise(decodeImage(jpeg, "jpeg", GREY_28));
    const expected = await Effect.runPromise(detector.scoreImages(decoded, 1));
    const jpegAnswer = await post(service, "image/jpeg", jpeg).then((r) => r.json()) as ScoreAnswer;
    assert.ok(close(jpegAnswer.results[0]!.score, expected.scores[0]!));

    // WebP: lossless keeps the pixels (the offline score); lossy gets its decoded pixels' score.
    const webp = (options: { lossless: boolean }) =>
      sharp(rawImage(indices[0]!), { raw: { width: 28, height: 28, channels: 1 } })
        .webp(options).toBuffer().then((b) => new Uint8Array(b));
    const lossless = await post(service, "image/webp", await webp({ lossless: true }))
      .then((r) => r.json()) as ScoreAnswer;
    assert.ok(close(lossless.results[0]!.score, offline.scores[0]!), "lossless WebP");
    const lossy = await webp({ lossless: false });
    const lossyPixels = await Effect.runPromise(decodeImage(lossy, "webp", GREY_28));
    const lossyExpected = await Effect.runPromise(detector.scoreImages(lossyPixels, 1));
    const lossyAnswer = await post(service, "image/webp", lossy).then((r) =>
      r.json()
    ) as ScoreAnswer;
    assert.ok(close(lossyAnswer.results[0]!.score, lossyExpected.scores[0]!), "lossy WebP");

    // A larger RGB PNG is resized and converted as lib/sources does.
    const big = await sharp(rawImage(7), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(112, 112).toColourspace("srgb").png().toBuffer();
    const bigPixels = await Effect.runPromise(decodeImage(new Uint8Array(big), "big", GREY_28));
    const bigExpected = await Effect.runPromise(detector.scoreImages(bigPixels, 1));
    const bigAnswer = await post(service, "image/png", big).then((r) => r.json()) as ScoreAnswer;
    assert.ok(close(bigAnswer.results[0]!.score, bigExpected.scores[0]!));

    // The concurrent PNGs were batched: fewer batches than requests.
    const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
    const batches = Number(/^grood_batch_images_count (\d+)$/m.exec(metrics)![1]);
    const scored = Number(/^grood_images_scored_total (\d+)$/m.exec(metrics)![1]);
    assert.equal(scored, 24 + 24 + 2 * 24 + 1 + 2 + 1);
    assert.ok(batches < 24 + 4, `${batches} batches for 28 requests`);
  });
});

Deno.test("a WebP's size is read from its header in each of its three forms (lossy, lossless, extended)", async () => {
  const rgba = new Uint8Array(37 * 19 * 4).map((_, i) => (i * 31) % 256);
  const image = () => sharp(rgba, { raw: { width: 37, height: 19, channels: 4 } });
  const forms = {
    "VP8 ": await image().removeAlpha().webp({ quality: 80 }).toBuffer(),
    "VP8L": await image().webp({ lossless: true }).toBuffer(),
    "VP8X": await image().webp({ quality: 80, alphaQuality: 50 }).toBuffer(),
  };
  for (const [chunk, bytes] of Object.entries(forms)) {
    assert.equal(new TextDecoder().decode(bytes.subarray(12, 16)), chunk, "sharp wrote this form");
    assert.deepEqual(imageHeader(new Uint8Array(bytes)), { format: "webp", width: 37, height: 19 });
    assert.equal(imageHeader(new Uint8Array(bytes).subarray(0, 29)), undefined, `${chunk} cut`);
  }
});

Deno.test("every malformed request gets its 4xx {code, message}; the next valid one succeeds", async () => {
  const png = await pngImage(3);
  const [expected] = (await offlineScores([3])).scores;
  const huge = png.slice(0, 33); // a real signature and IHDR, then 20000×20000
  new DataView(huge.buffer).setUint32(16, 20000);
  new DataView(huge.buffer).setUint32(20, 20000);
  // The oversized images are headers alone (33 and 15 bytes): a 413 image_too_large, not a 400
  // undecodable_image, shows they were refused from the header without decoding.
  // A JPEG whose first frame header says 20000×20000 (SOF0: precision, height, width, 1 channel).
  const hugeJpeg = new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xc0,
    0,
    11,
    8,
    0x4e,
    0x20,
    0x4e,
    0x20,
    1,
    1,
    0x11,
    0,
  ]);
  // A WebP whose extended header (VP8X) says 20000×20000: width − 1 and height − 1 in 24 bits.
  const hugeWebp = new Uint8Array(30);
  hugeWebp.set(new TextEncoder().encode("RIFF"), 0);
  hugeWebp.set(new TextEncoder().encode("WEBPVP8X"), 8);
  hugeWebp.set([10, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0x4e, 0, 0x1f, 0x4e, 0], 16);
  const webp = new Uint8Array(
    await sharp(rawImage(3), { raw: { width: 28, height: 28, channels: 1 } })
      .webp({ lossless: true }).toBuffer(),
  );
  const random = Uint8Array.from({ length: 500 }, (_, i) => (i * 7919 + 13) % 256);
  const many = { images: Array.from({ length: 17 }, () => btoa(String.fromCharCode(...png))) };
  const npyFloat = await Effect.runPromise(encodeNpy(new Float32Array(784), [1, 28, 28], "t"));
  const cases: ReadonlyArray<[string, () => Promise<Response>, number, string]> = [
    ["random bytes", () => post(s, "image/png", random), 400, "undecodable_image"],
    [
      "truncated PNG",
      () => post(s, "image/png", png.slice(0, png.length - 20)),
      400,
      "undecodable_image",
    ],
    ["20000×20000 header", () => post(s, "image/png", huge), 413, "image_too_large"],
    ["20000×20000 JPEG header", () => post(s, "image/jpeg", hugeJpeg), 413, "image_too_large"],
    ["20000×20000 WebP header", () => post(s, "image/webp", hugeWebp), 413, "image_too_large"],
    [
      "truncated WebP",
      () => post(s, "image/webp", webp.slice(0, webp.length - 20)),
      400,
      "undecodable_image",
    ],
    [
      "bad base64",
      () => post(s, "application/json", '{"images": ["not base64!"]}'),
      400,
      "bad_base64",
    ],
    ["bad JSON", () => post(s, "application/json", '{"images": ['), 400, "bad_json"],
    ["JSON of another shape", () => post(s, "application/json", '{"image": "x"}'), 400, "bad_json"],
    [
      "JSON with a misspelt key beside the images",
      () => post(s, "application/json", JSON.stringify({ images: [many.images[0]], thresold: 1 })),
      400,
      "bad_json",
    ],
    [
      "a query parameter",
      () =>
        fetch(`${s.url}/v1/score?threshold=99`, {
          method: "POST",
          headers: { "content-type": "image/png" },
          body: png as BodyInit,
        }),
      400,
      "unknown_parameter",
    ],
    ["wrong content type", () => post(s, "text/plain", "hello"), 415, "unsupported_media_type"],
    [
      "no content type",
      () => fetch(`${s.url}/v1/score`, { method: "POST", body: png as BodyInit }),
      415,
      "unsupported_media_type",
    ],
    ["empty body", () => post(s, "image/png", new Uint8Array(0)), 400, "empty_body"],
    ["empty list", () => post(s, "application/json", '{"images": []}'), 400, "empty_body"],
    [
      "too many images",
      () => post(s, "application/json", JSON.stringify(many)),
      413,
      "too_many_images",
    ],
    ["body too large", () => post(s, "image/png", new Uint8Array(70_000)), 413, "body_too_large"],
    ["float .npy", () => post(s, "application/x-npy", npyFloat), 400, "bad_npy"],
    ["corrupt .npy", () => post(s, "application/x-npy", random), 400, "bad_npy"],
    ["unknown route", () => fetch(`${s.url}/v2/score`), 404, "not_found"],
    ["wrong method", () => fetch(`${s.url}/v1/score`), 405, "method_not_allowed"],
  ];
  let s!: RunningService;
  await withService(
    detector,
    { limits: { maxImagesPerRequest: 16, maxBodyBytes: 64_000 } },
    async (service) => {
      s = service;
      for (const [what, request, status, code] of cases) {
        await assertRefused(await request(), status, code, what);
        const ok = await post(s, "image/png", png);
        assert.equal(ok.status, 200, `after ${what}`);
        const answer = await ok.json() as ScoreAnswer;
        assert.ok(close(answer.results[0]!.score, expected!), `after ${what}`);
      }
      // Each refusal is counted by its code.
      const metrics = await fetch(`${s.url}/metrics`).then((r) => r.text());
      assert.match(metrics, /^grood_errors_total\{code="undecodable_image"\} 3$/m);
      assert.match(metrics, /^grood_errors_total\{code="image_too_large"\} 3$/m);
      assert.match(metrics, /^grood_requests_total\{route="\/v1\/score",status="200"\} 21$/m);
      // Refused by name, as a spec file's unknown key is.
      const typo = await post(s, "application/json", JSON.stringify({ images: [], thresold: 1 }));
      assert.match((await typo.json() as { message: string }).message, /thresold/);
    },
  );
});

Deno.test("with a token, /v1/* and /metrics need it; health and the page stay open", async () => {
  const png = await pngImage(1);
  await withService(detector, { token: "s3cret-token" }, async (s) => {
    await assertRefused(await post(s, "image/png", png), 401, "unauthorized", "no token");
    await assertRefused(
      await post(s, "image/png", png, { authorization: "Bearer s3cret-tokeN" }),
      401,
      "unauthorized",
      "wrong token",
    );
    await assertRefused(await fetch(`${s.url}/v1/detector`), 401, "unauthorized", "detector");
    await assertRefused(await fetch(`${s.url}/metrics`), 401, "unauthorized", "metrics");
    const ok = await post(s, "image/png", png, { authorization: "Bearer s3cret-token" });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const health = await fetch(`${s.url}/healthz`);
    assert.deepEqual(await health.json(), { status: "ok", version: detector.info.version });
    const page = await fetch(`${s.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/);
  });
});

Deno.test("GET /v1/detector describes the detector; /metrics is Prometheus text", async () => {
  await withService(detector, {}, async (s) => {
    const info = await fetch(`${s.url}/v1/detector`).then((r) => r.json());
    assert.equal(info.version, detector.info.version);
    assert.equal(info.kind, "grood");
    assert.equal(info.threshold, detector.info.threshold);
    assert.deepEqual(info.input, { height: 28, width: 28, channels: 1 });
    assert.ok(info.validation.auroc > 0.5 && info.validation.auroc <= 1);
    assert.ok(Math.abs(info.validation.idKeptAtThreshold - 0.95) < 0.01);
    const h = info.histogram;
    assert.equal(h.edges.length, h.id.length + 1);
    assert.equal(h.id.reduce((a: number, b: number) => a + b, 0), 500);
    const response = await fetch(`${s.url}/metrics`);
    assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    // Every sample line is `name{labels} value` and every family is typed.
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      assert.match(line, /^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[\d.e+-]+$/, line);
      const family = line.split(/[{ ]/)[0]!.replace(/_(bucket|sum|count)$/, "");
      assert.match(text, new RegExp(`^# TYPE ${family} `, "m"), family);
    }
    assert.match(text, /^grood_requests_total\{route="\/v1\/detector",status="200"\} 1$/m);
    assert.match(text, /^grood_engine_tensors \d+$/m);
  });
});

Deno.test("shutdown answers the requests in flight, then refuses new connections", async () => {
  const png = await pngImage(2);
  // The real detector, held back (after its warm-up) until shutdown has begun, then slowed
  // down: the 12 requests are surely in flight, none answered, when shutdown begins.
  const slow = held({
    ...detector,
    scoreImages: (pixels: Uint8Array, count: number) =>
      Effect.delay(detector.scoreImages(pixels, count), "150 millis"),
  });
  const scope = await Effect.runPromise(Scope.make());
  const s = await Effect.runPromise(
    serveDetector(slow.detector, { port: 0 }).pipe(Scope.provide(scope)),
  );
  slow.hold();
  const inFlight = Array.from({ length: 12 }, () => post(s, "image/png", png));
  // Until all 12 have reached the handler (a bounded wait: a broken count fails here).
  await waitFor("the 12 requests in the handler", 60, () => s.inFlight() >= 12, 10);
  const closed = Effect.runPromise(Scope.close(scope, Exit.void));
  slow.release();
  const statuses = await Promise.all(inFlight.map((r) => r.then((x) => x.status)));
  await closed;
  assert.deepEqual(statuses, statuses.map(() => 200));
  await assert.rejects(post(s, "image/png", png));
});

Deno.test("cleanup", () => closeDetector());
