/**
 * What the tests of the service in process share (`serve_admission_test.ts`,
 * `serve_batcher_test.ts`, `serve_conventions_test.ts`, `serve_http_test.ts`): a stand-in
 * detector whose verdict, speed and failures are known from each image's first pixel, images
 * and PNGs with a chosen first pixel, and a service started on port 0 and closed afterwards.
 *
 * @module
 */
import { Data, Effect, Exit, Logger, Scope } from "effect";
import sharp from "sharp";
import type { ImageScores, ServedDetector } from "../apps/serve/detector.ts";
import { type RunningService, serveDetector, type ServeOptions } from "../apps/serve/server.ts";
import { GREY_28 } from "../lib/sources/mod.ts";

/** An error of the stand-in detector, tagged like the real non-finite checks. */
export class NonFiniteDetectorScore extends Data.TaggedError("NonFiniteDetectorScore")<{
  readonly problem: string;
}> {
  override get message(): string {
    return this.problem;
  }
}

/** The stand-in's engine failing (its message names an absolute path). */
export class EngineBroken extends Data.TaggedError("EngineBroken")<{ readonly problem: string }> {
  override get message(): string {
    return this.problem;
  }
}

/** What a stand-in detector saw: the first pixel of every image it scored, call by call. */
export interface Probe {
  readonly calls: Array<Array<number>>;
}

/**
 * A detector scoring an image as its first pixel / 255 (threshold 0.5) after `delayMs`. A first
 * pixel of 255 is a "broken" image: with `failOnBad` the whole batch fails with a non-finite
 * error (as `withInputChecks` does), else its score is NaN. A first pixel of 254 fails the batch
 * with an engine error whose message names an absolute path.
 */
export function standIn(
  probe: Probe = { calls: [] },
  options: { delayMs?: number; failOnBad?: boolean } = {},
): ServedDetector<NonFiniteDetectorScore | EngineBroken> {
  return {
    info: {
      version: "0123456789abcdef",
      kind: "stand-in",
      modelKey: "none",
      modelKind: "onnx",
      threshold: 0.5,
      settings: {},
      validation: {},
      histogram: { edges: [0, 1], id: [1], ood: [1] },
    },
    input: GREY_28,
    scoreImages: (pixels, count) =>
      Effect.gen(function* () {
        const first = Array.from({ length: count }, (_, i) => pixels[i * 784]!);
        probe.calls.push(first);
        if (options.delayMs) yield* Effect.sleep(options.delayMs);
        if (first.includes(254)) {
          return yield* new EngineBroken({
            problem: 'Running the model "/home/secret/det/model/net.onnx" failed: out of memory',
          });
        }
        if (options.failOnBad && first.includes(255)) {
          return yield* new NonFiniteDetectorScore({ problem: "the detector's score is NaN" });
        }
        const scores = Float64Array.from(first, (p) => p === 255 ? NaN : p / 255);
        const result: ImageScores = {
          scores,
          predicted: new Int32Array(count),
          isOod: Array.from(scores, (s) => s > 0.5),
        };
        return result;
      }),
  };
}

/**
 * `detector` whose batches, once `hold()` was called, wait at their start until `release()`
 * (or 20 s later: a safety net, so that a broken service fails the test instead of hanging
 * it); `started` lists the first pixel of each image of every batch that began.
 */
export function held(detector: ServedDetector<unknown>) {
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  const started: Array<number> = [];
  return {
    detector: {
      ...detector,
      scoreImages: (pixels: Uint8Array, count: number) =>
        Effect.andThen(
          Effect.promise(() => {
            for (let i = 0; i < count; i++) started.push(pixels[i * 784]!);
            return gate;
          }),
          detector.scoreImages(pixels, count),
        ),
    } satisfies ServedDetector<unknown>,
    started,
    hold: () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      gate = new Promise<void>((resolve) => {
        open = () => {
          clearTimeout(timer);
          resolve();
        };
        timer = setTimeout(open, 20_000);
      });
    },
    release: () => open(),
  };
}

/** One 28×28 grey image whose first pixel is `first` (the rest 0). */
export const image = (first: number): Uint8Array<ArrayBuffer> => {
  const pixels = new Uint8Array(784);
  pixels[0] = first;
  return pixels;
};

/** `image(first)` as PNG bytes. */
export const png = async (first: number): Promise<Uint8Array<ArrayBuffer>> =>
  new Uint8Array(
    await sharp(image(first), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer(),
  );

/**
 * Run `body` against `detector` served on port 0 with `options`, its log lines (JSON)
 * collected in `lines`; the service is closed afterwards.
 */
export async function withService(
  detector: ServedDetector<unknown>,
  options: ServeOptions,
  body: (service: RunningService, lines: Array<string>) => Promise<void>,
): Promise<void> {
  const lines: Array<string> = [];
  const collect = Logger.layer([Logger.map(Logger.formatJson, (line) => void lines.push(line))]);
  const scope = await Effect.runPromise(Scope.make());
  const service = await Effect.runPromise(
    serveDetector(detector, { port: 0, ...options }).pipe(
      Scope.provide(scope),
      Effect.provide(collect),
    ),
  );
  try {
    await body(service, lines);
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
}
