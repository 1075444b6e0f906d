/**
 * The service's body decoding, called directly (helper b21's probe): an image or a `.npy` batch
 * whose header gives a side of 0 pixels was refused as `image_too_large` (413, "at most 4096
 * pixels a side"), which names the wrong fault; it is a 400 naming the empty size. And a body
 * timeout longer than `setTimeout` holds (2³¹ − 1 ms) fired after 1 ms.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { decodeBody } from "../apps/serve/decode.ts";
import { readBody } from "../apps/serve/read_body.ts";
import { DEFAULT_LIMITS, type Refusal } from "../apps/serve/limits.ts";
import { npyHeader } from "../lib/io/npy.ts";

const shape = { height: 28, width: 28, channels: 1 } as const;
const refusal = (type: string, body: Uint8Array) =>
  Effect.runPromise(Effect.flip(decodeBody(type, body, shape, DEFAULT_LIMITS))) as Promise<
    Refusal
  >;

/** A PNG signature and IHDR of `width` × `height` (8-bit grey), and nothing after. */
const pngHeader = (width: number, height: number) => {
  const png = new Uint8Array(33);
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(png.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  png[24] = 8;
  return png;
};

Deno.test("an image or .npy batch with a side of 0 pixels is a 400 naming it, not image_too_large", async () => {
  for (const [width, height] of [[0, 0], [0, 28], [28, 0]] as const) {
    const error = await refusal("image/png", pngHeader(width, height));
    assert.equal(error.code, "undecodable_image", `${width}×${height}`);
    assert.match(error.problem, new RegExp(`${width}×${height} PNG: it has no pixels`));
    const npy = new Uint8Array([...npyHeader("|u1", [1, height, width])]);
    const batch = await refusal("application/x-npy", npy);
    assert.equal(batch.code, "bad_npy", `${width}×${height} .npy`);
    assert.match(batch.problem, new RegExp(`${width}×${height} images: they have no pixels`));
  }
  // A side beyond the limit is still too large.
  assert.equal((await refusal("image/png", pngHeader(20000, 28))).code, "image_too_large");
});

Deno.test("a body timeout longer than setTimeout holds waits for the body, not 1 ms", async () => {
  // `--body-timeout-seconds 1e7`: before, the timer wrapped to 1 ms and this body, 60 ms late,
  // was refused as body_timeout.
  const late = new ReadableStream<Uint8Array>({
    async start(controller) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      controller.enqueue(new Uint8Array([1, 2, 3]));
      controller.close();
    },
  });
  const request = new Request("http://localhost/v1/score", { method: "POST", body: late });
  const body = await Effect.runPromise(readBody(request, 1024, 1e7 * 1000));
  assert.deepEqual([...body], [1, 2, 3]);
});
