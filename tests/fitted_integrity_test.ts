/**
 * Integrity of fitted-detector folders (issue 24, class 3): `detector.json` carries the digest
 * of its own text and lists every other file with its sha256, so an edit of any byte of any
 * file, a deleted file or an added one is refused on load as `FittedFolderDamaged` naming the
 * file; random mutations of a folder (property test) either load exactly or fail so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import fc from "fast-check";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import {
  fitDetectorFolder,
  FITTED_MANIFEST_FILE,
  openFittedDetector,
  readManifest,
  sealManifest,
} from "../lib/fitted/mod.ts";
import { runScoped, scopedFailure, withCompute } from "./with_compute.ts";
import { digitFitSources } from "./digit_sets.ts";
import { denoTask } from "./deno_task.ts";
import { copyFolder } from "./folder_copy.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const dir = await Deno.makeTempDir({ prefix: "grood-integrity-" });
const { train, validation } = await digitFitSources(dir);
const fit = (detector: unknown, out: string) =>
  runScoped(
    fitDetectorFolder({ model: foreign, train, validation, detector, out: join(dir, out) }),
  );
await fit({ kind: "grood", k: 2 }, "grood");
await fit({ kind: "msp" }, "msp");

/** A fresh copy of a fitted folder. */
const copyOf = (name: string, as: string) => copyFolder(join(dir, name), join(dir, as));

const openError = (folder: string) =>
  scopedFailure(Effect.map(openFittedDetector(folder), () => undefined));

/** Rewrite detector.json through `edit` (as a careful user would: valid JSON, same layout). */
const editManifest = async (folder: string, edit: (json: Record<string, Json>) => void) => {
  const path = join(folder, FITTED_MANIFEST_FILE);
  const json = JSON.parse(await Deno.readTextFile(path));
  edit(json);
  await Deno.writeTextFile(path, JSON.stringify(json, null, 2) + "\n");
};

Deno.test("reproduction 2: score refuses a detector.json whose threshold was edited by one character", async () => {
  const folder = await copyOf("msp", "repro-2");
  const path = join(folder, FITTED_MANIFEST_FILE);
  const text = await Deno.readTextFile(path);
  const edited = text.replace(/"threshold": -0\./, '"threshold": -1.');
  assert.notEqual(edited, text);
  await Deno.writeTextFile(path, edited);
  const output = await denoTask(dir, "score", ["--detector", folder, "val.npy"]);
  const stderr = output.stderr;
  assert.equal(output.code, 1, stderr);
  assert.equal(output.stdout, "");
  assert.match(stderr, /is damaged: detector\.json: it was changed after it was written/);
  assert.doesNotMatch(stderr, /\n\s+at /);
});

Deno.test("every value that steers a fitted detector is covered: an edit of any is FittedFolderDamaged naming detector.json", async () => {
  const edits: Record<string, (json: Record<string, Json>) => void> = {
    threshold: (j) => (j.threshold += 1e-6),
    k: (j) => (j.detector.settings.k = 3),
    temperature: (j) => (j.detector.settings.temperature = 2),
    mean: (j) => (j.model.input.mean[0] = 0.5),
    std: (j) => (j.model.input.std[0] = 0.25),
    taps: (j) => (j.model.taps.early = "penultimate"),
    classNames: (j) => (j.model.classNames[0] = "zero"),
    "state sha256": (j) => (j.state[0].file.sha256 = "0".repeat(64)),
  };
  for (const [what, edit] of Object.entries(edits)) {
    const folder = await copyOf("grood", `edit-${what.replace(" ", "-")}`);
    await editManifest(folder, edit);
    const error = await openError(folder);
    assert.equal(error._tag, "FittedFolderDamaged", what);
    assert.match(error.message, /detector\.json: it was changed after it was written/, what);
    assert.equal((error as unknown as { file: string }).file, FITTED_MANIFEST_FILE, what);
  }
  // The untouched folder loads, and its version is the digest of its detector.json.
  const manifest = await Effect.runPromise(readManifest(join(dir, "grood")));
  const version = await runScoped(
    Effect.map(openFittedDetector(join(dir, "grood")), (d) => d.version),
  );
  assert.equal(version, manifest.digest);
});

Deno.test("an unknown key, an added file and a link are refused by name", async () => {
  const unknown = await copyOf("grood", "unknown-key");
  await editManifest(unknown, (j) => (j.detector.settings = { ...j.detector.settings }, j.kk = 5));
  const unknownError = await openError(unknown);
  assert.equal(unknownError._tag, "FittedFolderDamaged");
  assert.match(unknownError.message, /detector\.json: unknown key kk/);

  const added = await copyOf("grood", "added-file");
  await Deno.writeTextFile(join(added, "state/extra.npy"), "x");
  const addedError = await openError(added);
  assert.match(addedError.message, /state\/extra\.npy: not listed in detector\.json/);

  const linked = await copyOf("grood", "linked");
  const state = join(linked, "state/ood-prototype.npy");
  await Deno.rename(state, join(dir, "moved.npy"));
  await Deno.symlink(join(dir, "moved.npy"), state);
  const linkError = await openError(linked);
  assert.match(linkError.message, /state\/ood-prototype\.npy: a link/);

  const old = await copyOf("grood", "old-version");
  await editManifest(old, (j) => (j.version = 1));
  assert.match((await openError(old)).message, /folder version 1; this grood reads version 2/);
});

Deno.test("property: a mutated or random fitted folder (byte flipped, JSON value edited, random detector.json or keys, file deleted or added) loads exactly or is FittedFolderDamaged naming the file", async () => {
  const folder = join(dir, "mutated");
  const files = [
    "detector.json",
    "model/foreign.onnx",
    "state/class-prototypes-penultimate.npy",
    "state/ood-prototype.npy",
    "state/train-descriptors.npy",
  ];
  const reference = await Effect.runPromise(readManifest(join(dir, "grood")));
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("flip" as const),
      file: fc.constantFrom(...files),
      at: fc.nat(),
      mask: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({
      kind: fc.constant("edit" as const),
      at: fc.nat(),
      value: fc.oneof(fc.double(), fc.string(), fc.boolean(), fc.constant(null)),
    }),
    fc.record({ kind: fc.constant("delete" as const), file: fc.constantFrom(...files) }),
    // A random detector.json: any JSON text, or the real one with random keys at the top.
    fc.record({ kind: fc.constant("random" as const), text: fc.json() }),
    fc.record({
      kind: fc.constant("keys" as const),
      extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.jsonValue(), {
        minKeys: 1,
        maxKeys: 3,
      }),
    }),
    fc.record({
      kind: fc.constant("add" as const),
      name: fc.constantFrom("notes.txt", "state/more.npy", "model/extra.bin", ".hidden"),
    }),
  );
  /** Every leaf of a JSON value, as a path. */
  const leaves = (
    value: unknown,
    path: Array<string | number> = [],
  ): Array<Array<string | number>> =>
    value !== null && typeof value === "object"
      ? Object.entries(value).flatMap(([k, v]) =>
        leaves(v, [...path, Array.isArray(value) ? Number(k) : k])
      )
      : [path];
  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      await copyOf("grood", "mutated");
      let file: string;
      if (m.kind === "flip") {
        file = m.file;
        const bytes = await Deno.readFile(join(folder, m.file));
        bytes[m.at % bytes.length]! ^= m.mask;
        await Deno.writeFile(join(folder, m.file), bytes);
      } else if (m.kind === "edit") {
        file = FITTED_MANIFEST_FILE;
        await editManifest(folder, (json) => {
          const all = leaves(json);
          const path = all[m.at % all.length]!;
          let parent: Json = json;
          for (const key of path.slice(0, -1)) parent = parent[key];
          parent[path[path.length - 1]!] = m.value;
        });
      } else if (m.kind === "random") {
        file = FITTED_MANIFEST_FILE;
        await Deno.writeTextFile(join(folder, FITTED_MANIFEST_FILE), m.text);
      } else if (m.kind === "keys") {
        file = FITTED_MANIFEST_FILE;
        await editManifest(folder, (json) => Object.assign(json, m.extra));
      } else if (m.kind === "delete") {
        file = m.file;
        await Deno.remove(join(folder, m.file));
      } else {
        file = m.name;
        await Deno.writeTextFile(join(folder, m.name), "added");
      }
      const exit = await Effect.runPromiseExit(
        withCompute(Effect.scoped(Effect.map(openFittedDetector(folder), (d) => d.manifest))),
      );
      if (Exit.isSuccess(exit)) {
        // Only a change that is no change (the same value written back) may load.
        assert.deepEqual(exit.value, reference);
        return;
      }
      const error = Exit.isFailure(exit) && exit.cause.reasons[0];
      assert.ok(error && error._tag === "Fail", `not a typed failure: ${String(exit.cause)}`);
      const failure = error.error as { _tag: string; file: string };
      assert.equal(failure._tag, "FittedFolderDamaged");
      // The file named is the one changed, or detector.json when the list no longer fits.
      assert.ok([file, FITTED_MANIFEST_FILE].includes(failure.file), `${failure.file} for ${file}`);
    }),
    { seed: 24, numRuns: 80 },
  );
});

Deno.test("a re-sealed detector.json whose paths leave the folder is refused before anything is read", async () => {
  const reference = await Effect.runPromise(readManifest(join(dir, "grood")));
  for (
    const [what, forged] of [
      ["model path", { ...reference, model: { ...reference.model, path: "../../outside" } }],
      [
        "state file",
        {
          ...reference,
          state: reference.state.map((s, i) =>
            i === 0 ? { ...s, file: { ...s.file, path: "/etc/passwd" } } : s
          ),
        },
      ],
    ] as const
  ) {
    const folder = await copyOf("grood", `forged-${what.replace(" ", "-")}`);
    // A forger can recompute the digest: the paths themselves must be checked.
    await Deno.writeTextFile(join(folder, FITTED_MANIFEST_FILE), sealManifest(forged).text);
    const error = await openError(folder);
    assert.equal(error._tag, "FittedFolderDamaged", what);
    assert.match(error.message, /Expected a path inside the folder/, what);
  }
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
