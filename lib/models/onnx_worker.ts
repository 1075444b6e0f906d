/**
 * The Web Worker behind an onnxruntime session on its own thread (`onnx_session.ts`).
 * Protocol: `open` → `opened` | `failed` (id −1); `run` (an id, float32 feeds, output names) →
 * `ran` (outputs transferred) | `failed`; `release` → `released` (then the owner terminates it).
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import type { FeatureTensor as WireTensor } from "./model.ts";

/** Messages to the worker. */
export type OnnxWorkerRequest =
  | {
    readonly type: "open";
    readonly bytes: Uint8Array;
    /** The calling thread's session options, so both threads run alike. */
    readonly options: ort.InferenceSession.SessionOptions;
  }
  | {
    readonly type: "run";
    readonly id: number;
    readonly feeds: ReadonlyArray<readonly [string, WireTensor]>;
    readonly outputs: ReadonlyArray<string>;
  }
  | { readonly type: "release" };

/** Messages from the worker. */
export type OnnxWorkerReply =
  | { readonly type: "opened" }
  | { readonly type: "ran"; readonly id: number; readonly outputs: ReadonlyArray<WireTensor> }
  | { readonly type: "failed"; readonly id: number; readonly reason: string }
  | { readonly type: "released" };

interface WorkerScope {
  onmessage: ((event: MessageEvent<OnnxWorkerRequest>) => void) | null;
  postMessage(message: OnnxWorkerReply, transfer?: Array<ArrayBuffer>): void;
}

const reasonOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause);

/** A tensor's data in an array buffer of its own, so it can be transferred. */
const owned = (data: Float32Array): Float32Array =>
  data.byteOffset === 0 && data.byteLength === data.buffer.byteLength &&
    data.buffer instanceof ArrayBuffer
    ? data
    : data.slice();

/** Run `session` on float32 `feeds`: one tensor per name of `outputs` (either thread's). */
export const runOrt = async (
  session: ort.InferenceSession,
  feeds: ReadonlyArray<readonly [string, WireTensor]>,
  outputs: ReadonlyArray<string>,
): Promise<Array<WireTensor>> => {
  const tensors = feeds.map(([name, t]) =>
    [name, new ort.Tensor("float32", t.data, [...t.shape])] as const
  );
  try {
    const result = await session.run(Object.fromEntries(tensors), [...outputs]);
    return outputs.map((name) => {
      const t = result[name]!;
      return { data: t.data as Float32Array, shape: t.dims.map(Number) };
    });
  } finally {
    tensors.forEach(([, t]) => t.dispose());
  }
};

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  let session: ort.InferenceSession | undefined;
  // Requests are handled one at a time, in order: a run never starts before `open` is done.
  let queue: Promise<void> = Promise.resolve();
  const handle = async (request: OnnxWorkerRequest): Promise<void> => {
    if (request.type === "release") {
      try {
        await session?.release();
      } finally {
        session = undefined;
        scope.postMessage({ type: "released" });
      }
      return;
    }
    try {
      if (request.type === "open") {
        session = await ort.InferenceSession.create(request.bytes, request.options);
        return scope.postMessage({ type: "opened" });
      }
      const outputs = (await runOrt(session!, request.feeds, request.outputs))
        .map((o) => ({ data: owned(o.data), shape: o.shape }));
      const transfer = outputs.map((o) => o.data.buffer as ArrayBuffer);
      scope.postMessage({ type: "ran", id: request.id, outputs }, transfer);
    } catch (cause) {
      const id = request.type === "run" ? request.id : -1;
      scope.postMessage({ type: "failed", id, reason: reasonOf(cause) });
    }
  };
  scope.onmessage = (event) => {
    // A request that throws must not stop the ones after it (each answers for itself).
    queue = queue.then(() => handle(event.data)).catch(() => {});
  };
}
