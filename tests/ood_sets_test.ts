import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import { encode } from "fast-png";
import { sha256Hex } from "../lib/io/files.ts";
import { parseDebFileName } from "../apps/data/debian.ts";
import {
  areaResize,
  cropWrap,
  decodePat,
  decodePng,
  ImageDecodeFailed,
  inkBounds,
  padToSquare,
  pngSize,
} from "../apps/data/image.ts";
import { flattenPath, type PathCommand, rasterizeGlyph } from "../apps/data/glyph.ts";
import { contactSheet } from "../apps/data/contact.ts";
import { fontGroup } from "../apps/data/letters.ts";
import type { OodManifest } from "../lib/data/ood/manifest.ts";
import {
  loadOodSet,
  OOD_SET_NAMES,
  OodSetCorrupt,
  oodSets,
  projectPath,
  readOodSetFile,
} from "../lib/data/ood/mod.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);
const failureOf = <A, E>(effect: Effect.Effect<A, E>): E => {
  const exit = Effect.runSyncExit(Effect.flip(effect));
  assert.ok(Exit.isSuccess(exit), "expected a typed failure");
  return exit.value;
};

// ---------------------------------------------------------------------------------------------
// Pure helpers

Deno.test("areaResize() averages whole blocks when the factor is an integer", () => {
  const img = {
    width: 4,
    height: 4,
    data: new Float32Array([0, 0, 4, 4, 0, 0, 4, 4, 8, 8, 12, 12, 8, 10, 12, 16]),
  };
  const out = areaResize(img, 2, 2);
  assert.deepEqual(Array.from(out.data), [0, 4, 8.5, 13]);
});

Deno.test("areaResize() weights fractional coverage (3 → 2 pixels)", () => {
  // Output pixel 0 covers source [0, 1.5): all of pixel 0 and half of pixel 1.
  const img = { width: 3, height: 1, data: new Float32Array([0, 3, 6]) };
  const out = areaResize(img, 2, 1);
  assert.deepEqual(Array.from(out.data), [(0 + 3 * 0.5) / 1.5, (3 * 0.5 + 6) / 1.5]);
});

Deno.test("areaResize() keeps the mean of the image", () => {
  const data = Float32Array.from({ length: 100 * 70 }, (_, i) => (i * 37) % 256);
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const out = areaResize({ width: 100, height: 70, data }, 28, 28);
  assert.ok(Math.abs(mean(out.data) - mean(data)) < 1e-2);
});

Deno.test("cropWrap() tiles a pattern smaller than the crop", () => {
  const img = { width: 2, height: 1, data: new Float32Array([1, 2]) };
  assert.deepEqual(Array.from(cropWrap(img, 1, 0, 3).data), [2, 1, 2, 2, 1, 2, 2, 1, 2]);
});

Deno.test("inkBounds() and padToSquare() centre the ink on a black square", () => {
  const data = new Float32Array(5 * 5);
  data[1 * 5 + 1] = 200;
  data[1 * 5 + 3] = 200; // ink spans x 1..3, y 1..1
  const img = { width: 5, height: 5, data };
  const box = inkBounds(img);
  assert.deepEqual(box, { x: 1, y: 1, width: 3, height: 1 });
  const sq = padToSquare(img, box!);
  assert.equal(sq.width, 3);
  assert.deepEqual(Array.from(sq.data), [0, 0, 0, 200, 0, 200, 0, 0, 0]);
  assert.equal(inkBounds({ width: 2, height: 1, data: new Float32Array(2) }), undefined);
});

/** A .pat file built by hand from the GIMP format description. */
function patFile(width: number, height: number, bpp: number, pixels: number[]): Uint8Array {
  const name = new TextEncoder().encode("tiny\0");
  const headerSize = 24 + name.length;
  const bytes = new Uint8Array(headerSize + pixels.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, headerSize);
  view.setUint32(4, 1);
  view.setUint32(8, width);
  view.setUint32(12, height);
  view.setUint32(16, bpp);
  bytes.set(new TextEncoder().encode("GPAT"), 20);
  bytes.set(name, 24);
  bytes.set(pixels, headerSize);
  return bytes;
}

Deno.test("decodePat() decodes RGB and gray+alpha patterns to RGBA", () => {
  const rgb = run(decodePat(patFile(2, 1, 3, [10, 20, 30, 40, 50, 60]), "rgb.pat"));
  assert.equal(rgb.width, 2);
  assert.equal(rgb.height, 1);
  assert.deepEqual(Array.from(rgb.data), [10, 20, 30, 255, 40, 50, 60, 255]);
  const ga = run(decodePat(patFile(1, 2, 2, [7, 128, 9, 0]), "ga.pat"));
  assert.deepEqual(Array.from(ga.data), [7, 7, 7, 128, 9, 9, 9, 0]);
});

Deno.test("decodePat() fails with ImageDecodeFailed naming a truncated or foreign file", () => {
  const truncated = patFile(2, 2, 3, [1, 2, 3]);
  const e1 = failureOf(decodePat(truncated, "short.pat"));
  assert.ok(e1 instanceof ImageDecodeFailed);
  assert.match(e1.message, /short\.pat.*truncated/);
  const e2 = failureOf(decodePat(new Uint8Array(40), "zero.pat"));
  assert.match(e2.message, /zero\.pat.*magic/);
});

Deno.test("decodePng() and pngSize() read gray+alpha and palette-free RGB PNGs", () => {
  const png = encode({
    width: 2,
    height: 1,
    channels: 2,
    depth: 8,
    data: new Uint8Array([50, 255, 200, 0]),
  });
  assert.deepEqual(pngSize(png), { width: 2, height: 1 });
  assert.equal(pngSize(new Uint8Array(30)), undefined);
  const img = run(decodePng(png, "ga.png"));
  assert.deepEqual(Array.from(img.data), [50, 50, 50, 255, 200, 200, 200, 0]);
  const bad = failureOf(decodePng(new Uint8Array(10), "bad.png"));
  assert.match(bad.message, /bad\.png/);
});

Deno.test("rasterizeGlyph() fills a square outline into the centred 24 px box", () => {
  // No "Z": CFF paths often omit it, so the rasterizer must close contours itself.
  const square: PathCommand[] = [
    { type: "M", x: 0, y: 0 },
    { type: "L", x: 10, y: 0 },
    { type: "L", x: 10, y: 10 },
    { type: "L", x: 0, y: 10 },
  ];
  const img = rasterizeGlyph(square)!;
  assert.equal(img.length, 28 * 28);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const inside = x >= 2 && x < 26 && y >= 2 && y < 26;
      assert.equal(img[y * 28 + x], inside ? 255 : 0, `pixel (${x}, ${y})`);
    }
  }
});

Deno.test("rasterizeGlyph() leaves a counter empty (nonzero rule, reversed inner contour)", () => {
  const outer: PathCommand[] = [
    { type: "M", x: 0, y: 0 },
    { type: "L", x: 12, y: 0 },
    { type: "L", x: 12, y: 12 },
    { type: "L", x: 0, y: 12 },
    { type: "Z" },
  ];
  const inner: PathCommand[] = [
    { type: "M", x: 4, y: 4 },
    { type: "L", x: 4, y: 8 },
    { type: "L", x: 8, y: 8 },
    { type: "L", x: 8, y: 4 },
  ];
  const img = rasterizeGlyph([...outer, ...inner])!;
  assert.equal(img[14 * 28 + 14], 0, "centre of the counter");
  assert.equal(img[4 * 28 + 4], 255, "ring");
  assert.equal(rasterizeGlyph([]), undefined);
  assert.equal(rasterizeGlyph([{ type: "M", x: 1, y: 1 }, { type: "L", x: 5, y: 1 }]), undefined);
});

Deno.test("flattenPath() closes open contours and samples curves", () => {
  const polys = flattenPath([
    { type: "M", x: 0, y: 0 },
    { type: "Q", x1: 5, y1: 10, x: 10, y: 0 },
  ], 4);
  assert.equal(polys.length, 1);
  assert.equal(polys[0]!.length, 1 + 4 + 1);
  assert.deepEqual(polys[0]![polys[0]!.length - 1], [0, 0]);
  assert.deepEqual(polys[0]![2], [5, 5]); // t = 0.5 of the quadratic
});

Deno.test("contactSheet() lays out a grid PNG of the requested size", () => {
  const images = new Uint8Array(3 * 4 * 4).fill(255);
  const png = contactSheet(images, 3, 4, { grid: 2, scale: 2, gap: 1, seed: 0 });
  // 2 columns of 8 px + 3 gaps; 2 rows (3 images) of 8 px + 3 gaps.
  assert.deepEqual(pngSize(png), { width: 19, height: 19 });
});

Deno.test("parseDebFileName() decodes the epoch and rejects other names", () => {
  assert.deepEqual(parseDebFileName("openclipart-png_1%3a0.18+dfsg-19_all.deb"), {
    name: "openclipart-png",
    version: "1:0.18+dfsg-19",
    arch: "all",
  });
  assert.equal(parseDebFileName("README.txt"), undefined);
});

Deno.test("fontGroup() keeps derived designs and family variants together", () => {
  assert.equal(
    fontGroup("fonts-texgyre", "TeX Gyre Termes"),
    fontGroup("fonts-urw-base35", "Nimbus Roman"),
  );
  assert.equal(fontGroup("fonts-aenigma", "Airmole Shaded"), fontGroup("fonts-aenigma", "Airmole"));
  assert.notEqual(fontGroup("fonts-aenigma", "Airmole"), fontGroup("fonts-aenigma", "Zoidal"));
  assert.equal(fontGroup("fonts-cmu", "CMU Serif"), fontGroup("fonts-cmu", "CMU Typewriter Text"));
});

// ---------------------------------------------------------------------------------------------
// Manifests (committed: these always run)

const manifests = new Map(
  OOD_SET_NAMES.map((name) => {
    const text = Deno.readTextFileSync(projectPath(oodSets[name].manifestPath));
    return [name, JSON.parse(text) as OodManifest] as const;
  }),
);

Deno.test("every OOD set has a manifest consistent with the registry", () => {
  for (const name of OOD_SET_NAMES) {
    const m = manifests.get(name)!;
    const set = oodSets[name];
    assert.equal(m.name, name);
    assert.equal(m.role, set.role, `${name} role`);
    assert.deepEqual(m.dims, [m.count, 28, 28], `${name} dims`);
    assert.ok(m.count >= set.minCount, `${name}: ${m.count} < ${set.minCount}`);
    assert.match(m.sha256, /^[0-9a-f]{64}$/);
    assert.ok(m.sources.length > 0, `${name} lists its sources`);
    assert.equal(new Set(m.sources).size, m.sources.length, `${name} sources are unique`);
    const packages = new Set(m.sourcePackages.map((p) => p.name));
    for (const s of m.sources) {
      assert.ok(packages.has(s.split("/")[0]!), `${name}: ${s} is from a listed package`);
    }
    assert.equal(typeof m.recipe["seed"], "number", `${name} records its seed`);
  }
});

Deno.test("validation OOD sets share no source file with any test OOD set", () => {
  const testSources = new Map<string, string>();
  for (const name of OOD_SET_NAMES.filter((n) => oodSets[n].role === "test")) {
    for (const s of manifests.get(name)!.sources) testSources.set(s, name);
  }
  const validation = OOD_SET_NAMES.filter((n) => oodSets[n].role === "validation");
  assert.ok(validation.length >= 2, "there are validation sets");
  for (const name of validation) {
    for (const s of manifests.get(name)!.sources) {
      assert.equal(testSources.get(s), undefined, `${name} source ${s} is also in a test set`);
    }
  }
});

Deno.test("letters-val holds out whole font groups (no group on both sides)", () => {
  const held = manifests.get("letters-val")!.recipe["heldOutGroups"] as string[];
  assert.deepEqual(manifests.get("letters")!.recipe["heldOutGroups"], held);
  assert.ok(held.length > 0);
  // A group named after a package holds out the whole package: no test font may come from it.
  const wholePackages = held.filter((g) => g.startsWith("fonts-") && !g.includes(":"));
  for (const s of manifests.get("letters")!.sources) {
    const pkg = s.split("/")[0]!;
    assert.ok(!wholePackages.includes(pkg), `test font ${s} is from held-out ${pkg}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Built sets (need `npx deno run -A tasks/data.ts`; ignored when .data/ood is not built)

for (const name of OOD_SET_NAMES) {
  const set = oodSets[name];
  const built = existsSync(projectPath(set.path));
  Deno.test({
    name: built
      ? `OOD set "${name}" matches its manifest (count, dims, range, sha256)`
      : `OOD set "${name}" (ignored: ${set.path} not built; run npx deno run -A tasks/data.ts)`,
    ignore: !built,
    fn: async () => {
      const m = manifests.get(name)!;
      const bytes = await Deno.readFile(projectPath(set.path));
      assert.equal(sha256Hex(bytes), m.sha256, `${name} sha256`);
      const idx = await Effect.runPromise(loadOodSet(name));
      assert.deepEqual(idx.dims, [m.count, 28, 28]);
      assert.ok(m.count >= set.minCount);
      let dark = 0, ink = 0;
      for (const v of idx.data) {
        if (v < 32) dark++;
        else if (v > 128) ink++;
      }
      // Every set has dark pixels and bright ones; the object and letter sets are mostly dark.
      assert.ok(dark > 0.02 * idx.data.length, `${name}: too few dark pixels`);
      assert.ok(ink > 0.02 * idx.data.length, `${name}: too few bright pixels`);
      if (name.startsWith("letters") || name === "objects") {
        const corners = [0, 27, 27 * 28, 28 * 28 - 1];
        let darkCorners = 0;
        for (let i = 0; i < m.count; i++) {
          for (const c of corners) if (idx.data[i * 784 + c]! < 32) darkCorners++;
        }
        assert.ok(darkCorners > 0.9 * 4 * m.count, `${name}: background is not dark`);
      }
    },
  });
}

Deno.test({
  name:
    "an OOD set corrupted without changing its size fails on load with OodSetCorrupt naming the set",
  ignore: !existsSync(projectPath(oodSets.photos.path)),
  fn: async () => {
    // A copy of the real photos set and its manifest (the shared .data stays untouched).
    const set = oodSets.photos;
    const dir = await Deno.makeTempDir();
    const path = join(dir, "photos-images-idx3-ubyte");
    const manifestPath = join(dir, "photos.json");
    const memo = join(dir, "verified.json");
    const source = projectPath(set.path);
    await Deno.copyFile(source, path);
    await Deno.copyFile(projectPath(set.manifestPath), manifestPath);
    const good = await Effect.runPromise(readOodSetFile("photos", path, manifestPath, memo));
    assert.equal(good.dims[1], 28);
    // Same size, one byte changed, after a verified load was remembered in the memo.
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
    await new Promise((r) => setTimeout(r, 20));
    await Deno.writeFile(path, bytes);
    const error = await Effect.runPromise(
      Effect.flip(readOodSetFile("photos", path, manifestPath, memo)),
    );
    assert.ok(error instanceof OodSetCorrupt, String(error));
    assert.equal(error.set, "photos");
    assert.match(
      error.message,
      /OOD set "photos" is corrupt: .* has sha256 [0-9a-f]{64}, its manifest records/,
    );
    assert.equal(error.actual, sha256Hex(bytes));
    // A set without a manifest is refused, not trusted.
    await Deno.remove(manifestPath);
    const missing = await Effect.runPromise(
      Effect.flip(readOodSetFile("photos", path, manifestPath, memo)),
    );
    assert.equal(missing._tag, "OodManifestMissing");
  },
});
