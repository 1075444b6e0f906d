/**
 * Tampered fitted folders that used to load (helper b21, probing the fitted-folder door): a
 * named pipe in place of a listed file held `score`, `evaluate-ood` and `serve` forever; a
 * re-sealed `detector.json` whose GROOD `k` or `temperature` its spec would refuse, or whose
 * Energy temperature was a word, negative or gone (read as 1), loaded, and `serve` answered
 * `/readyz` 200 while every image failed or came out invalid; so did a NaN in GROOD's class or
 * OOD prototypes; a NaN in the training descriptors named `state/GROOD training descriptors`,
 * a file that does not exist; a class name given twice was taken. Each is now refused on load
 * as `FittedFolderDamaged`, naming the file (and the setting). An ONNX model keeping a weight in
 * an external file had it read by onnxruntime from the working directory: copied and hashed
 * nowhere, so one fitted folder scored differently from one directory to the next; it is now
 * `ModelUnreadable`, naming the tensor. A re-sealed `model.input` of grood's CNN (which keeps its
 * own preprocessing) was ignored by the model but used to decode images: 27 rows failed every
 * score, a changed scale was reported by the folder and not applied; it is refused by name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import onnxProto from "onnx-proto";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import {
  fitDetectorFolder,
  FITTED_MANIFEST_FILE,
  openFittedDetector,
  sealManifest,
} from "../lib/fitted/mod.ts";
import { sha256Hex } from "../lib/io/files.ts";
import { decodeNpy, encodeNpy } from "../lib/io/npy.ts";
import { openModel } from "../lib/models/registry.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";
import { digitFitSources } from "./digit_sets.ts";
import { copyFolder } from "./folder_copy.ts";
import { loadWithPipeAt } from "./named_pipe.ts";

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const dir = await Deno.makeTempDir({ prefix: "grood-fitted-tamper-" });
const { train, validation } = await digitFitSources(dir);
for (const kind of ["grood", "energy", "knn"]) {
  await runScoped(fitDetectorFolder({
    model: foreign,
    train,
    validation,
    detector: { kind },
    out: join(dir, kind),
  }));
}
// grood's own CNN keeps its preprocessing: the manifest's input is checked against it.
await runScoped(fitDetectorFolder({
  model: fixtureDir("mnist"),
  train,
  validation,
  detector: { kind: "msp" },
  out: join(dir, "msp-cnn"),
}));

type Manifest = {
  detector: { settings: Record<string, unknown> };
  model: { classNames: Array<string>; input: Record<string, unknown> };
  state: Array<{ name: string; file: { path: string; bytes: number; sha256: string } }>;
};
let copies = 0;
/** A fresh copy of the folder fitted with `kind`. */
const copyOf = (kind: string) => copyFolder(join(dir, kind), join(dir, `copy-${copies++}`));
const openError = (folder: string) =>
  scopedFailure(Effect.map(openFittedDetector(folder), () => undefined));
const opens = (folder: string) => runScoped(Effect.map(openFittedDetector(folder), () => true));
/** Edit detector.json and seal it again, as a forger (or a hand edit and a re-seal) would. */
const resealed = async (folder: string, edit: (m: Manifest) => void) => {
  const path = join(folder, FITTED_MANIFEST_FILE);
  const json = JSON.parse(await Deno.readTextFile(path));
  edit(json);
  await Deno.writeTextFile(path, sealManifest(json).text);
};
/** Put `value` at `at` in the state array `name`, and list the new file's size and sha256. */
const poison = async (folder: string, name: string, at: number, value: number) => {
  let entry: Manifest["state"][number] | undefined;
  await resealed(folder, (m) => (entry = m.state.find((s) => s.name === name)));
  const path = join(folder, entry!.file.path);
  const npy = await Effect.runPromise(decodeNpy(await Deno.readFile(path), path));
  (npy.data as Float32Array)[at] = value;
  const bytes = await Effect.runPromise(encodeNpy(npy.data, npy.shape, path));
  await Deno.writeFile(path, bytes);
  await resealed(folder, (m) => {
    const file = m.state.find((s) => s.name === name)!.file;
    file.bytes = bytes.length;
    file.sha256 = sha256Hex(bytes);
  });
};

Deno.test("a named pipe in place of a listed file or of detector.json is refused, not read", async () => {
  for (const file of [FITTED_MANIFEST_FILE, "state/ood-prototype.npy"]) {
    const folder = await copyOf("grood");
    const { result: error, opened } = await loadWithPipeAt(
      join(folder, file),
      () => openError(folder).catch((e) => e as Error),
    );
    assert.equal(opened, false, `${file}: the pipe was opened`);
    assert.equal((error as { _tag?: string })._tag, "FittedFolderDamaged", String(error));
    assert.match(error.message, new RegExp(`${file}: it is a named pipe, not a regular file`));
  }
});

Deno.test("a re-sealed setting the detector's spec would refuse is refused on load, naming it", async () => {
  const cases: Array<[string, string, (m: Manifest) => void, RegExp]> = [
    ["grood", "k 0", (m) => (m.detector.settings.k = 0), /settings\.k: .* found 0/],
    ["grood", "k 1.5", (m) => (m.detector.settings.k = 1.5), /settings\.k: .* found 1\.5/],
    [
      "grood",
      "k beyond the descriptors",
      (m) => (m.detector.settings.k = 100_000),
      /settings\.k: expected at most the \d+ training descriptors, found 100000/,
    ],
    [
      "grood",
      "temperature 0",
      (m) => (m.detector.settings.temperature = 0),
      /settings\.temperature: expected a number in \[2\^-62, 2\^62\] .*, found 0/,
    ],
    [
      "grood",
      "temperature 1e-300 (descriptors overflow float32)",
      (m) => (m.detector.settings.temperature = 1e-300),
      /settings\.temperature: expected a number in \[2\^-62, 2\^62\] .*, found 1e-300/,
    ],
    ["grood", "no k", (m) => delete m.detector.settings.k, /settings\.k: .* found nothing/],
    [
      "energy",
      "temperature a word",
      (m) => (m.detector.settings.temperature = "hot"),
      /settings\.temperature: expected a positive number, found "hot"/,
    ],
    [
      "energy",
      "temperature −5",
      (m) => (m.detector.settings.temperature = -5),
      /settings\.temperature: expected a positive number, found -5/,
    ],
    [
      "energy",
      "no temperature",
      (m) => delete m.detector.settings.temperature,
      /settings\.temperature: expected a positive number, found nothing/,
    ],
    ["knn", "k 0", (m) => (m.detector.settings.k = 0), /settings\.k: .* found 0/],
  ];
  for (const [kind, what, edit, message] of cases) {
    const folder = await copyOf(kind);
    await resealed(folder, edit);
    const error = await openError(folder);
    assert.equal(error._tag, "FittedFolderDamaged", `${kind}, ${what}`);
    assert.match(error.message, new RegExp(`${FITTED_MANIFEST_FILE}: `), `${kind}, ${what}`);
    assert.match(error.message, message, `${kind}, ${what}`);
  }
  // Re-sealed without an edit, each loads: only the bad values are refused.
  for (const kind of ["grood", "energy", "knn"]) {
    const folder = await copyOf(kind);
    await resealed(folder, () => {});
    assert.equal(await opens(folder), true, kind);
  }
});

Deno.test("a NaN or an infinity in a re-sealed state array is refused on load, naming its file", async () => {
  const cases: Array<[string, string, number, RegExp]> = [
    [
      "grood",
      "class-prototypes-penultimate",
      NaN,
      /state\/class-prototypes-penultimate\.npy: value 3 is NaN/,
    ],
    ["grood", "ood-prototype", Infinity, /state\/ood-prototype\.npy: value 3 is Infinity/],
    ["grood", "train-descriptors", NaN, /state\/train-descriptors\.npy: .*NaN or infinite/],
    ["knn", "train-features-normalised", NaN, /state\/train-features-normalised\.npy: /],
  ];
  for (const [kind, name, value, message] of cases) {
    const folder = await copyOf(kind);
    await poison(folder, name, 3, value);
    const error = await openError(folder);
    assert.equal(error._tag, "FittedFolderDamaged", name);
    assert.match(error.message, message, name);
  }
  // The same rewrite with a finite value loads.
  const folder = await copyOf("grood");
  await poison(folder, "ood-prototype", 3, 0.5);
  assert.equal(await opens(folder), true);
});

Deno.test("a class name given twice in a re-sealed detector.json is refused, naming it", async () => {
  const folder = await copyOf("grood");
  await resealed(folder, (m) => (m.model.classNames[7] = m.model.classNames[1]!));
  const error = await openError(folder);
  assert.equal(error._tag, "FittedFolderDamaged");
  assert.match(error.message, /given twice in detector\.json at model\.classNames/);
});

Deno.test("an ONNX model keeping a weight in an external file is refused, naming the tensor", async () => {
  // The foreign model with its largest weight moved out to `weight.bin`, as ONNX's external
  // data does: onnxruntime, given the model's bytes, reads that file from the working directory.
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(await Deno.readFile(foreign));
  const weight = model.graph!.initializer!.reduce((a, b) =>
    (b.rawData?.length ?? 0) > (a.rawData?.length ?? 0) ? b : a
  );
  const data = weight.rawData!;
  weight.rawData = new Uint8Array(0);
  weight.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  weight.externalData = [
    { key: "location", value: "weight.bin" },
    { key: "offset", value: "0" },
    { key: "length", value: String(data.length) },
  ];
  const work = await Deno.makeTempDir({ dir, prefix: "cwd-" });
  const path = join(dir, "external.onnx");
  await Deno.writeFile(path, onnx.ModelProto.encode(model).finish());
  await Deno.writeFile(join(work, "weight.bin"), data);
  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  const before = Deno.cwd();
  Deno.chdir(work); // where the weight is: the model opens only if it is refused by grood itself
  try {
    const error = await scopedFailure(
      Effect.map(openModel(path, { spec }), () => undefined),
    );
    assert.equal(error._tag, "ModelUnreadable");
    assert.match(
      error.message,
      new RegExp(`tensor "${weight.name}" keeps its data in an external file \\("weight\\.bin"\\)`),
    );
  } finally {
    Deno.chdir(before);
  }
});

Deno.test("a re-sealed model.input the model does not take is refused, naming the field", async () => {
  const cases: Array<[string, (m: Manifest) => void, RegExp]> = [
    [
      "height",
      (m) => (m.model.input.height = 27),
      /model\.input\.height is 27, the model's own is 28/,
    ],
    ["scale", (m) => (m.model.input.scale = 1), /model\.input\.scale is 1, the model's own is /],
    ["layout", (m) => (m.model.input.layout = "NCHW"), /model\.input\.layout is "NCHW"/],
  ];
  for (const [what, edit, message] of cases) {
    const folder = await copyOf("msp-cnn");
    await resealed(folder, edit);
    const error = await openError(folder);
    assert.equal(error._tag, "FittedFolderDamaged", what);
    assert.match(error.message, new RegExp(`${FITTED_MANIFEST_FILE}: `), what);
    assert.match(error.message, message, what);
  }
  const folder = await copyOf("msp-cnn");
  await resealed(folder, () => {});
  assert.equal(await opens(folder), true);
});
