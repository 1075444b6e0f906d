/**
 * ODIN on onnxruntime (`FeatureModel.inputGradient` of grood's CNN: the backward graph of
 * `lib/models/export_gradient.ts`) against ODIN on tfjs (autograd) on the trained mnist
 * fixture: the input gradients agree value by value (within a bound at their scale, signs equal
 * except where a ReLU pre-activation sits within float32 rounding of 0), ODIN's AUROCs agree
 * within 0.05 points, a gradient graph that disagrees with tfjs is refused by name, and ODIN on
 * a model without an input gradient is refused at fit before any pass.
 */
import assert from "node:assert/strict";
import { Cause, Effect, Exit } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { IMAGE_SIZE, type ImageSet } from "../lib/data/images.ts";
import type { ExtractedSet } from "../lib/detectors/detector.ts";
import { odin } from "../lib/detectors/odin.ts";
import { INPUT } from "../lib/model/classifier.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { classifierToOnnx } from "../lib/models/export_onnx.ts";
import { groodTaps } from "../lib/models/grood_cnn.ts";
import { groodOnnxModel } from "../lib/models/grood_onnx.ts";
import { GRADIENT_TOLERANCE, gradientDifference } from "../lib/models/input_gradient.ts";
import { type FeatureModel, type FeatureTensor, preprocess } from "../lib/models/model.ts";
import { openOnnxGraph } from "../lib/models/onnx.ts";
import { openModel } from "../lib/models/registry.ts";
import { auroc } from "../lib/stages/evaluate.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { fitInputs } from "./hand_sets.ts";
import { writeLayersModel } from "./layers_model.ts";
import { runPromise, runScoped, tf } from "./with_compute.ts";

const COUNT = 256;
const mnist = await Effect.runPromise(loadSplit("mnist", "test"));
const fashion = await Effect.runPromise(loadSplit("fashion-mnist", "test"));
const head = (name: string, set: ImageSet, count: number, from = 0): ImageSet => ({
  name,
  count,
  pixels: set.pixels.slice(from * IMAGE_SIZE, (from + count) * IMAGE_SIZE),
});
const images = head("mnist-test-head", mnist, COUNT);

/** The input gradient of the first `COUNT` mnist test images on `engine`. */
const gradientOn = (engine: "onnx" | "tfjs", temperature: number) =>
  runScoped(Effect.gen(function* () {
    const model = yield* openModel(fixtureDir("mnist"), { groodEngine: engine });
    assert.ok(model.inputGradient !== undefined, `grood's CNN on ${engine} has an input gradient`);
    const x = yield* preprocess(model.name, model.input, images.pixels, COUNT, 1);
    return yield* model.inputGradient(x, temperature);
  }));

for (const temperature of [1, 1000]) {
  Deno.test(`the ONNX input gradient matches tfjs's autograd at T = ${temperature}`, async () => {
    const onnx = await gradientOn("onnx", temperature);
    const tfjs = await gradientOn("tfjs", temperature);
    assert.deepEqual(onnx.shape, [COUNT, 28, 28, 1]);
    assert.deepEqual(tfjs.shape, onnx.shape);
    const scale = tfjs.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(scale > 0, "the gradient is not zero");
    // The product's check (the L2 bound), then value by value.
    const { difference, allowed } = gradientDifference(onnx.data, tfjs.data);
    assert.ok(difference <= allowed, `L2 difference ${difference} > ${allowed}`);
    // Image by image: how many have a value off by more than 1e-4 of the scale, and by how
    // much relative to their own largest value.
    let imagesOff = 0;
    let worstInImage = 0;
    for (let n = 0; n < COUNT; n++) {
      let off = 0;
      let own = 0;
      for (let i = n * IMAGE_SIZE; i < (n + 1) * IMAGE_SIZE; i++) {
        off = Math.max(off, Math.abs(onnx.data[i]! - tfjs.data[i]!));
        own = Math.max(own, Math.abs(tfjs.data[i]!));
      }
      if (off > 1e-4 * scale) {
        imagesOff++;
        worstInImage = Math.max(worstInImage, off / own);
      }
    }
    let tinyFlips = 0;
    let flips = 0;
    for (let i = 0; i < tfjs.data.length; i++) {
      const [a, b] = [onnx.data[i]!, tfjs.data[i]!];
      if ((a >= 0) !== (b >= 0)) {
        if (Math.abs(b) < 1e-6 * scale) tinyFlips++;
        else flips++;
      }
    }
    console.log(
      `T = ${temperature}: scale ${scale.toExponential(2)}, L2 difference ` +
        `${(difference / (allowed / GRADIENT_TOLERANCE)).toExponential(2)} of ‖g‖, ` +
        `${imagesOff} of ${COUNT} images with a value off by > 1e-4 of the scale (by up to ` +
        `${worstInImage.toExponential(2)} of the image's largest value), ${tinyFlips} sign ` +
        `flips where |g| < 1e-6 of the scale, ${flips} elsewhere (of ${tfjs.data.length})`,
    );
    // A ReLU pre-activation within rounding of 0 can be open on one engine and shut on the
    // other: that moves the values of one image by a few percent (measured: one image of 256 at
    // T = 1000, by 1.7% of its largest value). A wrong backward pass moves every image.
    assert.ok(imagesOff <= COUNT / 100, `${imagesOff} images off by > 1e-4 of the scale`);
    assert.ok(worstInImage <= 0.1, `an image off by ${worstInImage} of its largest value`);
    assert.ok(flips <= tfjs.data.length / 10_000, `${flips} sign flips where |g| is not tiny`);
  });
}

/** An extracted set of `model` (features and logits) for ODIN. */
const extracted = (model: FeatureModel, set: ImageSet) =>
  Effect.map(extractFeatures(model, set), ({ features }): ExtractedSet => ({
    images: set,
    features,
  }));

Deno.test("ODIN's AUROCs on onnxruntime and on tfjs agree within 0.05 points", async () => {
  const id = head("mnist-val", mnist, 200, 1000);
  const ood = head("fashion-val", fashion, 200);
  const idTest = head("mnist-test", mnist, 200, 2000);
  const oodTest = head("fashion-test", fashion, 200, 1000);
  const odinOn = (engine: "onnx" | "tfjs", epsilon?: number) =>
    runScoped(Effect.gen(function* () {
      const model = yield* openModel(fixtureDir("mnist"), { groodEngine: engine });
      const [val, valOod, test, testOod] = yield* Effect.forEach(
        [id, ood, idTest, oodTest],
        (set) => extracted(model, set),
      );
      const train = { ...val!, features: { ...val!.features, labels: new Uint8Array(200) } };
      const fitted = yield* odin(epsilon === undefined ? {} : { epsilon }).fit({
        ...fitInputs(train, { id: val!, ood: [valOod!] }),
        model,
      });
      const idScores = yield* fitted.score(test!);
      const oodScores = yield* fitted.score(testOod!);
      return {
        auroc: yield* auroc(idScores, oodScores),
        epsilon: Number(fitted.settings.epsilon),
        validationAuroc: fitted.tuned[0]?.validationAuroc ?? [],
      };
    }));
  // A fixed ε (the perturbed passes), then the tuned one (every ε of the grid on validation).
  for (const epsilon of [0.002, undefined]) {
    const onnx = await odinOn("onnx", epsilon);
    const tfjs = await odinOn("tfjs", epsilon);
    console.log(
      `ε ${epsilon ?? "tuned"}: onnx ${JSON.stringify(onnx)}, tfjs ${JSON.stringify(tfjs)}`,
    );
    assert.ok(
      Math.abs(onnx.auroc - tfjs.auroc) <= 0.0005,
      `AUROC ${onnx.auroc} on onnx, ${tfjs.auroc} on tfjs`,
    );
    assert.equal(onnx.epsilon, tfjs.epsilon);
    onnx.validationAuroc.forEach((a, i) =>
      assert.ok(Math.abs(a - tfjs.validationAuroc[i]!) <= 0.0005, `validation AUROC ${i}`)
    );
  }
});

Deno.test("a gradient graph that disagrees with tfjs's autograd is refused by name", async () => {
  const exit = await runPromise(Effect.exit(Effect.scoped(Effect.gen(function* () {
    const { net, key } = yield* loadClassifier(tf, fixtureDir("mnist"));
    yield* Effect.addFinalizer(() => Effect.sync(() => net.dispose()));
    // The autograd side sees logits tripled (the one-pass input → logits range only the
    // gradient uses); block by block, as the forward check runs, the network is unchanged.
    const tripled = {
      ...net,
      forward: (x: Parameters<typeof net.forward>[0], range?: Parameters<typeof net.forward>[1]) =>
        range?.from === INPUT && range?.to === "head"
          ? tf.tidy(() => tf.mul(net.forward(x, range), 3))
          : net.forward(x, range),
    };
    const model = yield* groodOnnxModel(tf, tripled, "tripled", `${key}-tripled`, groodTaps(net));
    const x: FeatureTensor = {
      data: new Float32Array(2 * IMAGE_SIZE).fill(0.5),
      shape: [2, 28, 28, 1],
    };
    return yield* model.inputGradient!(x, 1);
  }))));
  assert.ok(Exit.isFailure(exit));
  const error = Cause.squash(exit.cause) as {
    _tag: string;
    model: string;
    difference: number;
    allowed: number;
    message: string;
  };
  assert.equal(error._tag, "OnnxGradientMismatch");
  assert.equal(error.model, "tripled");
  assert.ok(error.difference > error.allowed, `${error.difference} ≤ ${error.allowed}`);
  assert.match(error.message, /tripled.*input gradient/);
});

Deno.test("ODIN on a model without an input gradient is refused at fit, before any pass", async () => {
  let passes = 0;
  const error = await runPromise(Effect.flip(Effect.scoped(Effect.gen(function* () {
    const { net } = yield* loadClassifier(tf, fixtureDir("mnist"));
    yield* Effect.addFinalizer(() => Effect.sync(() => net.dispose()));
    const { model: graph, spec } = classifierToOnnx(net);
    const onnx = yield* openOnnxGraph("exported.onnx", graph, spec);
    assert.equal(onnx.inputGradient, undefined, "an ONNX file has no input gradient");
    const counted: FeatureModel = {
      ...onnx,
      forward: (x, from, to) => {
        passes++;
        return onnx.forward(x, from, to);
      },
    };
    const set = yield* extracted(onnx, head("mnist-val", mnist, 20));
    const train = { ...set, features: { ...set.features, labels: new Uint8Array(20) } };
    return yield* odin({ epsilon: 0.002 }).fit({ ...fitInputs(train), model: counted });
  }))));
  const failure = error as { _tag: string; detector: string; model: string; message: string };
  assert.equal(failure._tag, "NeedsClassifier");
  assert.equal(failure.detector, "ODIN");
  assert.equal(failure.model, "exported.onnx");
  assert.match(failure.message, /ODIN.*input gradient.*"exported\.onnx".*"onnx"/);
  assert.equal(passes, 0, "no forward pass ran");
});

Deno.test("a tfjs LayersModel's input gradient matches central differences; ODIN runs on it", async () => {
  const dir = await writeLayersModel(await Deno.makeTempDir({ prefix: "grood-odin-layers-" }));
  try {
    const temperature = 2;
    // The directional derivative along a seeded ±1 direction: autograd, and central
    // differences of Σ CE(z/T, ŷ) computed in float64 from the model's logits (ŷ fixed at x).
    const direction = Float32Array.from({ length: 784 }, (_, i) => (i * 7919) % 3 === 0 ? 1 : -1);
    const h = 1e-2;
    const { analytic, numeric } = await runScoped(Effect.gen(function* () {
      const model = yield* openModel(dir);
      assert.equal(model.kind, "tfjs-layers");
      const x = yield* preprocess(model.name, model.input, images.pixels.slice(0, 784), 1, 1);
      const logitsOf = (data: Float32Array) =>
        Effect.map(model.forward({ data, shape: x.shape }, "input", ["logits"]), ([z]) => z!.data);
      const z0 = yield* logitsOf(x.data);
      const target = z0.indexOf(Math.max(...z0));
      const lossAt = (sign: number) =>
        Effect.map(
          logitsOf(Float32Array.from(x.data, (v, i) => v + sign * h * direction[i]!)),
          (z) => {
            const scaled = Array.from(z, (v) => v / temperature);
            const top = Math.max(...scaled);
            return top + Math.log(scaled.reduce((s, v) => s + Math.exp(v - top), 0)) -
              scaled[target]!;
          },
        );
      const gradient = yield* model.inputGradient!(x, temperature);
      assert.deepEqual(gradient.shape, [1, 28, 28, 1]);
      // ODIN fits and scores on it: finite scores, moved by the perturbation.
      const set = yield* extracted(model, head("mnist-val", mnist, 20));
      const train = { ...set, features: { ...set.features, labels: new Uint8Array(20) } };
      const [plain, perturbed] = yield* Effect.forEach([0, 0.01], (epsilon) =>
        Effect.flatMap(
          odin({ epsilon }).fit({ ...fitInputs(train), model }),
          (fitted) => fitted.score(set),
        ));
      assert.ok(perturbed!.every(Number.isFinite));
      assert.ok(perturbed!.some((v, i) => v !== plain![i]), "ε moves ODIN's scores");
      return {
        analytic: gradient.data.reduce((s, g, i) => s + g * direction[i]!, 0),
        numeric: ((yield* lossAt(1)) - (yield* lossAt(-1))) / (2 * h),
      };
    }));
    assert.ok(Math.abs(analytic) > 1e-3, `a directional derivative of ${analytic} tests nothing`);
    assert.ok(
      Math.abs(numeric - analytic) <= 1e-2 * Math.abs(analytic),
      `directional derivative: autograd ${analytic}, central differences ${numeric}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
