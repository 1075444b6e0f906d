/**
 * Request bodies to images at the detector's input shape. Three forms: one encoded image
 * (`image/png`, `image/jpeg`, `image/webp`), JSON `{"images": [base64, …]}` (each a PNG, JPEG or
 * WebP, optionally as a `data:` URL), and a `.npy` batch (`application/x-npy`: uint8, shape
 * (N, H, W) or (N, H, W, C) with C = 1 or 3).
 *
 * Everything is checked before any expensive work: the body's size while it streams in
 * (`read_body.ts`), an image's width and height from its header before sharp decodes it (a
 * 20000×20000 PNG header is refused at the cost of reading 24 bytes), the number of images before
 * decoding any. Decoding and resizing are `lib/sources/conform.ts`'s, so a served image gets the
 * same pixels as the same file scored offline.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Effect } from "effect";
import { decodeStrict } from "../../mod.ts";
import { decodeNpy, decodeNpyHeader } from "../../lib/io/mod.ts";
import { conformRaw, decodeImage, type ImageShape, imageValues } from "../../lib/sources/mod.ts";
import { type Limits, Refusal } from "./limits.ts";
import { ScoreJsonBody } from "./route_table.ts";

/** Decoded images of one request, NHWC uint8 at the detector's shape. */
export interface DecodedImages {
  readonly pixels: Uint8Array;
  readonly count: number;
}

/** The body forms the service reads, by media type. */
export const MEDIA_TYPES = {
  "image/png": "image",
  "image/jpeg": "image",
  "image/webp": "image",
  "application/json": "json",
  "application/x-npy": "npy",
} as const;

const refuse = (code: Refusal["code"], problem: string) => new Refusal({ code, problem });

/** An encoded image's format and size, read from its header. */
export interface ImageHeader {
  readonly format: "png" | "jpeg" | "webp";
  readonly width: number;
  readonly height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The bytes `[from, to)` as Latin-1 text: a PNG chunk's or a RIFF container's four-letter code. */
const ascii = (bytes: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...bytes.subarray(from, to));

/**
 * Width and height of a PNG (its IHDR chunk), a JPEG (its first start-of-frame segment) or a
 * WebP (its first chunk: `VP8 `, `VP8L` or `VP8X`), without decoding; undefined when the bytes
 * are none of these or the header is cut short.
 *
 * @example
 * ```ts
 * import { imageHeader } from "./decode.ts";
 * const png = new Uint8Array(24);
 * png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
 * new DataView(png.buffer).setUint32(16, 20000);
 * new DataView(png.buffer).setUint32(20, 30);
 * const header = imageHeader(png);
 * if (header?.width !== 20000 || header.height !== 30) throw new Error("misread");
 * ```
 */
export function imageHeader(bytes: Uint8Array): ImageHeader | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 24 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    if (ascii(bytes, 12, 16) !== "IHDR") return undefined;
    return { format: "png", width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 30 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") {
    return webpHeader(bytes, view);
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let at = 2;
    while (at + 4 <= bytes.length) {
      if (bytes[at] !== 0xff) return undefined;
      const marker = bytes[at + 1]!;
      if (marker === 0xff) {
        at += 1; // fill byte
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        at += 2; // markers without a length
        continue;
      }
      const length = view.getUint16(at + 2);
      const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
        marker !== 0xcc;
      if (isFrame) {
        if (at + 9 > bytes.length) return undefined;
        return { format: "jpeg", height: view.getUint16(at + 5), width: view.getUint16(at + 7) };
      }
      if (marker === 0xda || length < 2) return undefined; // scan data before any frame
      at += 2 + length;
    }
  }
  return undefined;
}

/** Check an encoded image's header against the limits, then decode and resize it to `shape`. */
export const decodeOne = (
  bytes: Uint8Array,
  what: string,
  shape: ImageShape,
  limits: Limits,
): Effect.Effect<Uint8Array, Refusal> =>
  Effect.suspend(() => {
    if (bytes.length === 0) return Effect.fail(refuse("empty_body", `${what} is empty`));
    const header = imageHeader(bytes);
    if (header === undefined) {
      return Effect.fail(
        refuse("undecodable_image", `${what} is not a PNG, JPEG or WebP image (no valid header)`),
      );
    }
    const { width, height } = header;
    if (width === 0 || height === 0) {
      return Effect.fail(
        refuse(
          "undecodable_image",
          `${what} is a ${width}×${height} ${header.format.toUpperCase()}: it has no pixels`,
        ),
      );
    }
    if (
      width > limits.maxImageSide || height > limits.maxImageSide ||
      width * height > limits.maxImagePixels
    ) {
      return Effect.fail(
        refuse(
          "image_too_large",
          `${what} is a ${width}×${height} ${header.format.toUpperCase()}; images may be at most ` +
            `${limits.maxImageSide} pixels a side and ${limits.maxImagePixels} pixels in all`,
        ),
      );
    }
    return decodeImage(bytes, what, shape).pipe(
      Effect.mapError((error) =>
        refuse("undecodable_image", `${what} cannot be decoded: ${error.problem}`)
      ),
    );
  });

/** A WebP's size from its first chunk (the WebP container spec, RFC 9649), at least 30 bytes. */
function webpHeader(bytes: Uint8Array, view: DataView): ImageHeader | undefined {
  const chunk = ascii(bytes, 12, 16);
  if (chunk === "VP8 " && bytes[23] === 0x9d && bytes[24] === 0x01 && bytes[25] === 0x2a) {
    // Lossy: the key frame's 14-bit width and height (2 bits of scaling above them).
    return {
      format: "webp",
      width: view.getUint16(26, true) & 0x3fff,
      height: view.getUint16(28, true) & 0x3fff,
    };
  }
  if (chunk === "VP8L" && bytes[20] === 0x2f) {
    // Lossless: width − 1 and height − 1 in 14 bits each.
    const bits = view.getUint32(21, true);
    return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === "VP8X") {
    // Extended: the canvas's width − 1 and height − 1 in 24 bits each.
    const u24 = (at: number) => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
    return { format: "webp", width: u24(24) + 1, height: u24(27) + 1 };
  }
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL = /^data:[\w.+-]+\/[\w.+-]+;base64,/;

/** Strict base64 (optionally a `data:…;base64,` URL) to bytes. */
function fromBase64(text: string, what: string): Uint8Array | Refusal {
  const body = text.replace(DATA_URL, "");
  if (body.length % 4 !== 0 || !BASE64.test(body)) {
    return refuse("bad_base64", `${what} is not base64 (length ${body.length})`);
  }
  const buffer = Buffer.from(body, "base64");
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Admission of a request's images once their number is known, before any is decoded. */
export type Admit = (count: number) => Effect.Effect<void, Refusal>;

const decodeScoreBody = decodeStrict(ScoreJsonBody, "the JSON body");

/** The images of a JSON body `{"images": [base64, …]}`. */
const decodeJson = (body: Uint8Array, shape: ImageShape, limits: Limits, admit: Admit) =>
  Effect.gen(function* () {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (error) {
      return yield* Effect.fail(
        refuse("bad_json", `the body is not JSON (${(error as Error).message})`),
      );
    }
    // The Schema the OpenAPI document describes the body with (`route_table.ts`), decoded
    // strictly: a misspelt key is refused by name, never ignored.
    const { images } = yield* Effect.mapError(decodeScoreBody(parsed), (error) =>
      refuse(
        "bad_json",
        'expected {"images": [base64 string, …]}: ' +
          error.problems.map((p) => (p.path === "" ? p.problem : `${p.path}: ${p.problem}`))
            .join("; "),
      ));
    if (images.length === 0) {
      return yield* Effect.fail(refuse("empty_body", '"images" is an empty list'));
    }
    if (images.length > limits.maxImagesPerRequest) {
      return yield* Effect.fail(
        refuse(
          "too_many_images",
          `${images.length} images in one request; the limit is ${limits.maxImagesPerRequest}`,
        ),
      );
    }
    const encoded: Array<Uint8Array> = [];
    for (const [i, text] of images.entries()) {
      const bytes = fromBase64(text, `images[${i}]`);
      if (bytes instanceof Refusal) return yield* Effect.fail(bytes);
      encoded.push(bytes);
    }
    yield* admit(encoded.length);
    const per = imageValues(shape);
    const pixels = new Uint8Array(encoded.length * per);
    yield* Effect.forEach(
      encoded,
      (bytes, i) =>
        Effect.map(
          decodeOne(bytes, `images[${i}]`, shape, limits),
          (image) => pixels.set(image, i * per),
        ),
      { concurrency: 4, discard: true },
    );
    const decoded: DecodedImages = { pixels, count: encoded.length };
    return decoded;
  });

/** The images of a `.npy` batch: uint8, (N, H, W) or (N, H, W, C), resized to `shape`. */
const decodeNpyBatch = (body: Uint8Array, shape: ImageShape, limits: Limits, admit: Admit) =>
  Effect.gen(function* () {
    const what = "the .npy body";
    const header = yield* decodeNpyHeader(body, what).pipe(
      Effect.mapError((e) => refuse("bad_npy", `${what}: ${e.problem}`)),
    );
    const dims = header.shape;
    const channels = dims.length === 4 ? dims[3]! : 1;
    if (header.dtype !== "|u1" || (dims.length !== 3 && dims.length !== 4)) {
      return yield* Effect.fail(
        refuse(
          "bad_npy",
          `${what} is ${header.dtype} of shape (${dims.join(", ")}); expected uint8 images ` +
            "of shape (N, H, W) or (N, H, W, C)",
        ),
      );
    }
    const [count, height, width] = dims as [number, number, number];
    if (channels !== 1 && channels !== 3) {
      return yield* Effect.fail(refuse("bad_npy", `${what} has ${channels} channels, not 1 or 3`));
    }
    if (count === 0) return yield* Effect.fail(refuse("empty_body", `${what} holds no image`));
    if (count > limits.maxImagesPerRequest) {
      return yield* Effect.fail(
        refuse(
          "too_many_images",
          `${what} holds ${count} images; the limit is ${limits.maxImagesPerRequest}`,
        ),
      );
    }
    if (height === 0 || width === 0) {
      return yield* Effect.fail(
        refuse("bad_npy", `${what} holds ${width}×${height} images: they have no pixels`),
      );
    }
    if (
      height > limits.maxImageSide || width > limits.maxImageSide ||
      height * width > limits.maxImagePixels
    ) {
      return yield* Effect.fail(
        refuse("image_too_large", `${what} holds ${width}×${height} images; too large`),
      );
    }
    yield* admit(count);
    const array = yield* decodeNpy(body, what).pipe(
      Effect.mapError((e) => refuse("bad_npy", `${what}: ${e.problem}`)),
    );
    const pixels = yield* conformRaw(
      array.data as Uint8Array,
      count,
      { height, width, channels },
      shape,
      what,
    ).pipe(Effect.mapError((e) => refuse("bad_npy", `${what}: ${e.problem}`)));
    const decoded: DecodedImages = { pixels, count };
    return decoded;
  });

/** The bare media type of a `Content-Type` header (`image/png; q=1` → `image/png`). */
export function mediaType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Decode a scoring request's body by its media type. An unknown media type is refused (415)
 * before the body is looked at; `admit` sees the number of images before any is decoded.
 */
export const decodeBody = (
  contentType: string | null,
  body: Uint8Array,
  shape: ImageShape,
  limits: Limits,
  admit: Admit = () => Effect.void,
): Effect.Effect<DecodedImages, Refusal> =>
  Effect.suspend(() => {
    const type = mediaType(contentType);
    const form = MEDIA_TYPES[type as keyof typeof MEDIA_TYPES];
    if (form === undefined) {
      return Effect.fail(
        refuse(
          "unsupported_media_type",
          `Content-Type ${JSON.stringify(type)} is not one of ${
            Object.keys(MEDIA_TYPES).join(", ")
          }`,
        ),
      );
    }
    if (body.length === 0) return Effect.fail(refuse("empty_body", "the request body is empty"));
    switch (form) {
      case "image":
        return Effect.andThen(
          admit(1),
          Effect.map(
            decodeOne(body, `the ${type} body`, shape, limits),
            (pixels): DecodedImages => ({ pixels, count: 1 }),
          ),
        );
      case "json":
        return decodeJson(body, shape, limits, admit);
      case "npy":
        return decodeNpyBatch(body, shape, limits, admit);
    }
  });
