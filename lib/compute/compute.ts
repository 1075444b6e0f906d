/**
 * The `Compute` service: tfjs started once, on the backend `GROOD_BACKEND` or the layer names,
 * else the best one here: `tensorflow` when `@tensorflow/tfjs-node` (or `-gpu`) imports, else
 * `wasm` (its `.wasm` files from `node_modules`, never the network, and our kernels for CNN
 * training: `wasm_kernels.ts`), else `cpu`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { Context, Data, Effect, Layer } from "effect";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { registerConv2DBackpropFilter, registerConv2DBackpropInput } from "./wasm_kernels.ts";

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
        registerConv2DBackpropFilter(tf, "wasm");
        registerConv2DBackpropInput(tf, "wasm");
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
