/**
 * Holes found by probing grood's doors against its trust rules (helper b11): a model spec whose
 * mean or std does not fit its channels, or whose scale is 0, was read silently (an empty std as
 * 1, extra means dropped: 13 % and 84 % accuracy instead of 97 %); a sealed `detector.json` whose
 * `detector.kind` disagreed with its spec was scored as the other kind, an unknown key in its
 * spec was ignored, and two class names for ten logits were accepted; `--taps` naming a tap twice
 * kept the last silently; a model spec given to `openModel` in code was not decoded (a misspelt
 * kind crashed with a TypeError, an unknown key and a zero std were taken); a union member whose
 * `kind` matched but whose other literal did not (`dataset:mnist:tset`) was reported as
 * `unknown kind "dataset"; did you mean dataset?`; a misspelt `held-out-of-test` was answered
 * with the source kinds only (its union holds another union).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Option } from "effect";
import { parseTaps } from "../apps/cli/commands/fit.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { decodeBenchmark } from "../lib/benchmarks/spec.ts";
import { decodeStrict } from "../lib/decode.ts";
import { CifarSpec, FolderSpec, IdxSpec, NpySpec } from "../lib/sources/mod.ts";
import {
  fitDetectorFolder,
  FITTED_MANIFEST_FILE,
  openFittedDetector,
  readManifest,
  sealManifest,
} from "../lib/fitted/mod.ts";
import { openModel, readModelSpec } from "../lib/models/registry.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";
import { digitFitSources } from "./digit_sets.ts";
import { copyFolder } from "./folder_copy.ts";

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const dir = await Deno.makeTempDir({ prefix: "grood-trust-probe-" });

Deno.test("a model spec whose mean or std count fits neither 1 nor its channels, or whose scale is 0, is refused naming it", async () => {
  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  const cases = {
    "three means for a grey model": { mean: [0.1, 0.2, 0.3] },
    "an empty std": { std: [] },
    "a scale of 0": { scale: 0 },
  };
  for (const [what, input] of Object.entries(cases)) {
    const path = join(dir, "m.spec.json");
    await Deno.writeTextFile(path, JSON.stringify({ ...spec, input: { ...spec.input, ...input } }));
    const error = await Effect.runPromise(Effect.flip(readModelSpec(path)));
    assert.equal(error._tag, "ModelUnreadable", what);
    assert.match(
      error.message,
      "scale" in input
        ? /Expected a value greater than 0, got 0 .* at input\.scale/
        : /Expected mean and std to hold 1 value \(every channel\) for 1 channel; (mean holds 3|std holds 0)/,
      what,
    );
  }
  // Three values for three channels, one for every channel: both still decode.
  for (const input of [{ channels: 3, mean: [0.1, 0.2, 0.3], std: [0.2, 0.2, 0.2] }, {}]) {
    const path = join(dir, "ok.spec.json");
    await Deno.writeTextFile(path, JSON.stringify({ ...spec, input: { ...spec.input, ...input } }));
    await Effect.runPromise(readModelSpec(path));
  }
});

Deno.test("a sealed detector.json whose kind, spec or class names disagree is refused naming what", async () => {
  const { train, validation } = await digitFitSources(dir);
  const fitted = join(dir, "knn");
  await runScoped(fitDetectorFolder({
    model: foreign,
    train,
    validation,
    detector: { kind: "knn", k: 5 },
    out: fitted,
  }));
  const manifest = await Effect.runPromise(readManifest(fitted));
  type Manifest = typeof manifest;
  const edits: Record<string, [(m: Manifest) => Manifest, RegExp]> = {
    "kind msp over a knn spec": [
      (m) => ({ ...m, detector: { ...m.detector, kind: "msp" } }),
      /detector\.kind is "msp" but detector\.spec\.kind is "knn"/,
    ],
    "an unknown key in the spec": [
      (m) => ({ ...m, detector: { ...m.detector, spec: { ...m.detector.spec, kk: 5 } } }),
      /unknown key kk in detector\.json at detector\.spec; did you mean k\?/,
    ],
    "two class names for ten logits": [
      (m) => ({ ...m, model: { ...m.model, classNames: ["a", "b"] } }),
      /model\.classNames holds 2 names for 10 logits/,
    ],
  };
  for (const [what, [edit, message]] of Object.entries(edits)) {
    const folder = await copyFolder(fitted, join(dir, "forged"));
    // A forger can recompute the digest: the manifest's parts must agree with each other.
    await Deno.writeTextFile(join(folder, FITTED_MANIFEST_FILE), sealManifest(edit(manifest)).text);
    const error = await scopedFailure(Effect.map(openFittedDetector(folder), () => undefined));
    assert.equal(error._tag, "FittedFolderDamaged", what);
    assert.match(error.message, message, what);
  }
  // The same re-sealing without an edit loads: the check refuses only the disagreements.
  const folder = await copyFolder(fitted, join(dir, "resealed"));
  await Deno.writeTextFile(join(folder, FITTED_MANIFEST_FILE), sealManifest(manifest).text);
  await runScoped(Effect.map(openFittedDetector(folder), () => undefined));
});

Deno.test("--taps naming a tap twice is refused, not the last one kept", () => {
  assert.ok(Option.isNone(parseTaps("early=early,early=penultimate")));
  assert.ok(Option.isNone(parseTaps("logits=a,penultimate=b,logits=c")));
  assert.deepEqual(
    parseTaps("early=a,penultimate=b,logits=c"),
    Option.some({ early: "a", penultimate: "b", logits: "c" }),
  );
});

Deno.test("a model spec given to openModel in code is decoded strictly: a misspelt kind, an unknown key or a zero std is ModelUnreadable, not a crash", async () => {
  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  const cases: Record<string, [unknown, RegExp]> = {
    "kind onxx": [
      { ...spec, kind: "onxx" },
      /got "onxx" in the model spec given to openModel at kind/,
    ],
    "key inptu": [{ ...spec, inptu: 1 }, /unknown key inptu in the model spec given to openModel/],
    "std 0": [
      { ...spec, input: { ...spec.input, std: [0] } },
      /greater than 0, got 0 in the model spec given to openModel at input\.std\[0\]/,
    ],
  };
  for (const [what, [given, message]] of Object.entries(cases)) {
    const error = await scopedFailure(
      Effect.map(openModel(foreign, { spec: given as never }), () => undefined),
    );
    assert.equal(error._tag, "ModelUnreadable", what);
    assert.match(error.message, message, what);
  }
  const model = await runScoped(Effect.map(openModel(foreign, { spec }), (m) => m.taps));
  assert.deepEqual(model, spec.taps);
});

Deno.test("a source whose kind is right but whose split or set name is not names that key, not an unknown kind", async () => {
  const cases: Record<string, RegExp> = {
    "dataset:mnist:tset": /Expected "train" \| "test", got "tset" in dataset:mnist:tset at split/,
    "ood-set:nope": /got "nope" in ood-set:nope at name/,
  };
  for (const [argument, message] of Object.entries(cases)) {
    const error = await Effect.runPromise(Effect.flip(parseSourceArgument(argument, dir)));
    assert.match(error.message, message, argument);
    assert.doesNotMatch(error.message, /unknown kind/, argument);
  }
  // A kind that is no kind is still named as such, with the nearest.
  await Deno.writeTextFile(join(dir, "s.json"), JSON.stringify({ kind: "foldr", path: "x" }));
  const error = await Effect.runPromise(Effect.flip(parseSourceArgument("s.json", dir)));
  assert.match(error.message, /unknown kind "foldr" in s\.json at kind; did you mean folder\?/);
});

Deno.test("a misspelt kind in a union of unions lists every kind and suggests the nearest", async () => {
  const text = await Deno.readTextFile(new URL("../benchmarks/mnist.json", import.meta.url));
  const spec = JSON.parse(text.replace('"held-out-of-test"', '"held-out-of-tset"'));
  const error = await Effect.runPromise(Effect.flip(decodeBenchmark(spec, "mnist.json")));
  assert.match(error.message, /did you mean held-out-of-test\?/);
  assert.match(error.message, /one of held-out-of-test, folder, npy/);
});

Deno.test("a class name given twice, in a model spec or any source spec, is refused naming it", async () => {
  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  const classes = ["0", "1", "2", "3", "4", "5", "6", "7", "1", "9"];
  const path = join(dir, "twice.spec.json");
  await Deno.writeTextFile(path, JSON.stringify({ ...spec, classes }));
  const model = await Effect.runPromise(Effect.flip(readModelSpec(path)));
  assert.match(model.message, /each class name once; "1" is given twice/);
  const folder = await Effect.runPromise(Effect.flip(
    decodeStrict(FolderSpec, "a folder spec")({
      kind: "folder",
      path: ".",
      labelled: true,
      classes: ["a", "b", "a"],
    }),
  ));
  assert.match(folder.message, /each class name once; "a" is given twice/);
  // The same for every source kind that takes class names.
  for (
    const [schema, spec] of [
      [NpySpec, { kind: "npy", images: "x.npy" }],
      [IdxSpec, { kind: "idx", images: "x.idx" }],
      [CifarSpec, { kind: "cifar", variant: "cifar10", files: ["x.bin"] }],
    ] as const
  ) {
    const error = await Effect.runPromise(Effect.flip(
      decodeStrict(schema as typeof NpySpec, `a ${spec.kind} spec`)({
        ...spec,
        classes: ["a", "b", "a"],
      }),
    ));
    assert.match(error.message, /each class name once; "a" is given twice/, spec.kind);
  }
  // Class names without labels would be ignored (the images are unlabelled): refused.
  for (const schema of [NpySpec, IdxSpec] as const) {
    const error = await Effect.runPromise(Effect.flip(
      decodeStrict(schema as typeof NpySpec, "a spec without labels")({
        kind: schema === NpySpec ? "npy" : "idx",
        images: "x",
        classes: ["a", "b"],
      }),
    ));
    assert.match(error.message, /Expected labels with classes/);
  }
  // Distinct names still decode.
  await Deno.writeTextFile(path, JSON.stringify({ ...spec, classes: [...new Set(classes), "8"] }));
  await Effect.runPromise(readModelSpec(path));
});
