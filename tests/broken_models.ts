/**
 * Broken copies of the foreign ONNX fixture for the "finite or refused" tests: one whose
 * classifier head is NaN (every logit NaN), one that gives NaN logits for some images only
 * (all-black ones: `logits + log(max pixel)`, and the log of a negative preprocessed value is
 * NaN), one whose logits are finite but 1e30 apart (a one-hot softmax for every image), each
 * written with the fixture's spec beside it; and grood's own CNN with a NaN classifier bias.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Effect } from "effect";
import onnxProto from "onnx-proto";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { decodeOnnx, encodeOnnx } from "../lib/models/onnx_graph.ts";

const { onnx } = onnxProto;
const foreign = join(fixtureDir("foreign"), "foreign.onnx");

const write = async (dir: string, name: string, model: onnxProto.onnx.IModelProto) => {
  const path = join(dir, `${name}.onnx`);
  await Deno.writeFile(path, encodeOnnx(model));
  await Deno.copyFile(foreign.replace(/\.onnx$/, ".spec.json"), join(dir, `${name}.spec.json`));
  return path;
};

const original = async () =>
  await Effect.runPromise(decodeOnnx(foreign, await Deno.readFile(foreign)));

/** The fixture with a NaN classifier bias: every logit of every image is NaN. */
export async function nanHeadModel(dir: string): Promise<string> {
  const model = await original();
  const bias = model.graph!.initializer!.find((t) => t.name === "classifier.bias")!;
  const values = new Float32Array(10).fill(NaN);
  bias.rawData = new Uint8Array(values.buffer);
  bias.floatData = [];
  return await write(dir, "nan-head", model);
}

/**
 * grood's own mnist CNN with a NaN classifier bias (its last weights), its metadata's weight
 * hash updated as a training run that diverged writes it: every logit NaN, on both engines.
 */
export async function nanHeadGroodModel(dir: string): Promise<string> {
  const out = join(dir, "nan-head-grood");
  await Deno.mkdir(out, { recursive: true });
  for (const name of ["model.json", "metadata.json"]) {
    await Deno.copyFile(join(fixtureDir("mnist"), name), join(out, name));
  }
  const weights = new Float32Array(
    (await Deno.readFile(join(fixtureDir("mnist"), "weights.bin"))).buffer,
  );
  weights.fill(NaN, weights.length - 10);
  const bytes = new Uint8Array(weights.buffer);
  await Deno.writeFile(join(out, "weights.bin"), bytes);
  const metadata = JSON.parse(await Deno.readTextFile(join(out, "metadata.json")));
  metadata.weightsSha256 = createHash("sha256").update(bytes).digest("hex");
  await Deno.writeTextFile(join(out, "metadata.json"), JSON.stringify(metadata, null, 2));
  return out;
}

/**
 * The fixture with its classifier head scaled by 1e30: logits stay finite in float32 but are so
 * far apart that a softmax is exactly one-hot for every image.
 */
export async function hugeLogitsModel(dir: string): Promise<string> {
  const model = await original();
  for (const name of ["classifier.weight", "classifier.bias"]) {
    const tensor = model.graph!.initializer!.find((t) => t.name === name)!;
    const raw = tensor.rawData!;
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    for (let i = 0; i < values.length; i++) values[i] = values[i]! * 1e30;
    tensor.rawData = new Uint8Array(values.buffer);
    tensor.floatData = [];
  }
  return await write(dir, "huge-logits", model);
}

/** The fixture whose logits are NaN for an all-black image and finite otherwise. */
export async function nanOnBlackModel(dir: string): Promise<string> {
  const model = await original();
  const graph = model.graph!;
  const gemm = graph.node!.find((n) => n.output?.[0] === "logits")!;
  gemm.output = ["logits_raw"];
  const node = (opType: string, input: string[], output: string, attribute: unknown[] = []) =>
    onnx.NodeProto.create({ opType, input, output: [output], name: output, attribute } as never);
  graph.node!.push(
    node("Flatten", ["image"], "flat", [{ name: "axis", type: 2, i: 1 }]),
    node("ReduceMax", ["flat"], "peak", [
      { name: "axes", type: 7, ints: [1] },
      { name: "keepdims", type: 2, i: 1 },
    ]),
    node("Log", ["peak"], "log_peak"),
    node("Add", ["logits_raw", "log_peak"], "logits"),
  );
  return await write(dir, "nan-on-black", model);
}
