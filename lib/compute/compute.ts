/**
 * The `Compute` service: tfjs started once, on the backend `GROOD_BACKEND` or the layer names,
 * else the best one here: `tensorflow` when `@tensorflow/tfjs-node` (or `-gpu`) imports, else
 * `wasm` (its `.wasm` files from `node_modules`, never the network), else `cpu`. On wasm we
 * register `Conv2DBackpropFilter` (which it lacks, so no CNN could train) and a faster
 * `Conv2DBackpropInput`, each a forward convolution of kernels wasm has: docs/internals/core.md.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { Context, Data, Effect, Layer } from "effect";
import { createRequire } from "node:module";
import { dirname } from "node:path";

/** The backends grood knows how to start. */
export type BackendName = "tensorflow" | "wasm" | "cpu" | "webgpu";

const BACKENDS: ReadonlyArray<BackendName> = ["tensorflow", "wasm", "cpu", "webgpu"];

/** The tfjs module plus the backend it runs on. */
export interface ComputeShape {
  /** The tfjs module, its backend set and ready. */
  readonly tf: typeof tf;
  /** The backend tfjs runs on. */
  readonly backend: BackendName;
}

/** A backend could not be started. */
export class BackendUnavailable extends Data.TaggedError("BackendUnavailable")<{
  readonly backend: string;
  readonly reason: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot start tfjs backend "${this.backend}": ${this.reason}`;
  }
}

let started: Promise<ComputeShape> | undefined;
let startedWith: BackendName | "auto" | undefined;

/** Whether `name` can be imported (an optional backend package; none can be installed offline). */
const imports = (name: string): Promise<boolean> => import(name).then(() => true, () => false);

async function start(requested: BackendName | "auto"): Promise<ComputeShape> {
  const candidates: ReadonlyArray<BackendName> = requested === "auto"
    ? ["tensorflow", "wasm", "cpu"]
    : [requested];
  const reasons: Array<string> = [];
  for (const backend of candidates) {
    if (
      backend === "tensorflow" &&
      !(await imports("@tensorflow/tfjs-node-gpu") || await imports("@tensorflow/tfjs-node"))
    ) {
      reasons.push("tensorflow: @tensorflow/tfjs-node is not installed");
      continue;
    }
    if (backend === "wasm") {
      const require = createRequire(import.meta.url);
      setWasmPaths(
        dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")) + "/dist/",
      );
    }
    if (backend === "webgpu" && !(await imports("@tensorflow/tfjs-backend-webgpu"))) {
      reasons.push("webgpu: @tensorflow/tfjs-backend-webgpu is not installed");
      continue;
    }
    if (await tf.setBackend(backend)) {
      await tf.ready();
      if (backend === "wasm") {
        registerConv2DBackpropFilter();
        registerConv2DBackpropInput();
      }
      return { tf, backend };
    }
    reasons.push(`${backend}: tf.setBackend returned false`);
  }
  throw new Error(reasons.join("; "));
}

/** Parse a backend name from a flag or the environment (`auto` when unset). */
export function parseBackend(value: string | undefined): BackendName | "auto" | undefined {
  if (value === undefined || value === "" || value === "auto") return "auto";
  return (BACKENDS as ReadonlyArray<string>).includes(value) ? (value as BackendName) : undefined;
}

/** Start tfjs once per process; another backend after that is an error (one global engine). */
export const startCompute = (
  requested: BackendName | "auto" = "auto",
): Effect.Effect<ComputeShape, BackendUnavailable> =>
  Effect.gen(function* () {
    if (started !== undefined && startedWith !== requested && requested !== "auto") {
      const current = yield* Effect.promise(() => started!);
      if (current.backend !== requested) {
        return yield* new BackendUnavailable({
          backend: requested,
          reason: `tfjs already runs on "${current.backend}" in this process`,
        });
      }
    }
    if (started === undefined) {
      startedWith = requested;
      started = start(requested);
      started.catch(() => {
        started = undefined;
      });
    }
    return yield* Effect.tryPromise({
      try: () => started!,
      catch: (error) => new BackendUnavailable({ backend: requested, reason: String(error) }),
    });
  });

/** The tfjs instance and backend every stage computes with. */
export class Compute extends Context.Service<Compute, ComputeShape>()("grood/Compute") {
  /** Start tfjs on `backend` (default: `GROOD_BACKEND`, else the best here) and log it. */
  static layer(backend?: BackendName | "auto"): Layer.Layer<Compute, BackendUnavailable> {
    return Layer.effect(
      Compute,
      Effect.gen(function* () {
        const fromEnv = parseBackend(Deno.env.get("GROOD_BACKEND"));
        if (fromEnv === undefined) {
          return yield* new BackendUnavailable({
            backend: Deno.env.get("GROOD_BACKEND") ?? "",
            reason: `GROOD_BACKEND must be one of auto, ${BACKENDS.join(", ")}`,
          });
        }
        const compute = yield* startCompute(backend ?? fromEnv);
        yield* Effect.logInfo(`tfjs ${tf.version.tfjs} on backend "${compute.backend}"`);
        return compute;
      }),
    );
  }
}

/** The attributes both gradients read. */
interface ConvAttrs {
  readonly strides: [number, number] | number;
  readonly pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  readonly dimRoundingMode?: "floor" | "round" | "ceil";
  readonly dataFormat?: string;
  readonly dilations?: [number, number] | number;
  readonly filterShape: [number, number, number, number];
  readonly inputShape: [number, number, number, number];
}

const MARKER = "groodKernel";

/** Register `compute` as `kernelName` on wasm (idempotent): over wasm's own only when `replace`. */
function register(
  kernelName: string,
  inputNames: readonly [string, string],
  replace: boolean,
  compute: (a: tf.Tensor4D, b: tf.Tensor4D, attrs: ConvAttrs) => tf.Tensor,
): void {
  const current = tf.getKernelsForBackend("wasm").find((k) => k.kernelName === kernelName);
  if (current !== undefined && (!replace || (current as { [MARKER]?: boolean })[MARKER])) return;
  if (current !== undefined) tf.unregisterKernel(kernelName, "wasm");
  const config: tf.KernelConfig & { [MARKER]: boolean } = {
    [MARKER]: true,
    kernelName,
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const conv = attrs as unknown as ConvAttrs;
      if (conv.dataFormat !== undefined && conv.dataFormat !== "NHWC") {
        throw new Error(`${kernelName} (grood wasm kernel): only NHWC, got ${conv.dataFormat}`);
      }
      const [a, b] = inputNames.map((name) => (inputs as Record<string, tf.TensorInfo>)[name]!);
      const engine = tf.engine();
      return tf.tidy(() => {
        // The engine disposes the wrappers made here at the end of tidy: a reference taken on
        // each input keeps the caller's buffers alive.
        (backend as unknown as { incRef(id: object): void }).incRef(a!.dataId);
        (backend as unknown as { incRef(id: object): void }).incRef(b!.dataId);
        return compute(
          engine.makeTensorFromTensorInfo(a!) as tf.Tensor4D,
          engine.makeTensorFromTensorInfo(b!) as tf.Tensor4D,
          conv,
        );
      });
    },
  };
  tf.registerKernel(config);
}

/** Register our `Conv2DBackpropFilter` on wasm, which has none (idempotent). */
function registerConv2DBackpropFilter(): void {
  register("Conv2DBackpropFilter", ["x", "dy"], false, (input, gradient, a) => {
    const dilation = Array.isArray(a.dilations)
      ? a.dilations
      : [a.dilations ?? 1, a.dilations ?? 1];
    if (dilation[0] !== 1 || dilation[1] !== 1) {
      throw new Error("Conv2DBackpropFilter (grood wasm kernel): dilation must be 1");
    }
    const info = tf.backend_util.computeConv2DInfo(
      input.shape,
      a.filterShape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    const { top, bottom, left, right } = info.padInfo;
    const padded = top || bottom || left || right
      ? tf.pad(input, [[0, 0], [top, bottom], [left, right], [0, 0]])
      : input;
    const xAsImages = tf.transpose(padded, [3, 1, 2, 0]); // [Ci, Hp, Wp, N]
    const dyAsFilter = tf.transpose(gradient, [1, 2, 0, 3]); // [OH, OW, N, Co]
    const full = tf.conv2d(xAsImages, dyAsFilter, 1, "valid", "NHWC", [
      info.strideHeight,
      info.strideWidth,
    ]); // [Ci, >=KH, >=KW, Co]
    const cropped = tf.slice(full, [0, 0, 0, 0], [-1, a.filterShape[0], a.filterShape[1], -1]);
    return tf.transpose(cropped, [1, 2, 0, 3]); // [KH, KW, Ci, Co]
  });
}

/** Replace wasm's `Conv2DBackpropInput` with ours (idempotent). */
function registerConv2DBackpropInput(): void {
  register(
    "Conv2DBackpropInput",
    ["dy", "filter"],
    true,
    (gradient, weights, a) => {
      const [kh, kw] = weights.shape;
      const info = tf.backend_util.computeConv2DInfo(
        a.inputShape,
        weights.shape,
        a.strides,
        1,
        a.pad,
        a.dimRoundingMode,
      );
      const [n, oh, ow, co] = gradient.shape;
      const [sh, sw] = [info.strideHeight, info.strideWidth];
      let dilated: tf.Tensor4D = gradient;
      if (sh > 1 || sw > 1) {
        // Put s-1 zeros after every value along H and W, then drop the trailing zeros.
        const zeros = [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]];
        const spread = tf.pad(
          tf.reshape(gradient, [n, oh, 1, ow, 1, co]),
          zeros as Array<[number, number]>,
        );
        dilated = tf.slice(
          tf.reshape(spread, [n, oh * sh, ow * sw, co]),
          [0, 0, 0, 0],
          [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, co],
        ) as tf.Tensor4D;
      }
      const [, h, w] = a.inputShape;
      const padTop = kh - 1 - info.padInfo.top;
      const padLeft = kw - 1 - info.padInfo.left;
      const padBottom = h + kh - 1 - dilated.shape[1] - padTop;
      const padRight = w + kw - 1 - dilated.shape[2] - padLeft;
      // A negative pad means the forward pass never read those rows: crop instead.
      const padded = tf.slice(
        tf.pad(dilated, [
          [0, 0],
          [Math.max(padTop, 0), Math.max(padBottom, 0)],
          [Math.max(padLeft, 0), Math.max(padRight, 0)],
          [0, 0],
        ]),
        [0, Math.max(-padTop, 0), Math.max(-padLeft, 0), 0],
        [n, h + kh - 1, w + kw - 1, co],
      );
      const rotated = tf.transpose(tf.reverse(weights, [0, 1]), [0, 1, 3, 2]);
      return tf.conv2d(padded, rotated as tf.Tensor4D, 1, "valid");
    },
  );
}
