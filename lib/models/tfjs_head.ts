/**
 * The classifier head of a tfjs model, read from its weights: a LayersModel's linear `Dense`
 * layer reading the penultimate tap; a GraphModel's `MatMul(h, W)` (W constant), alone, under a
 * `BiasAdd` / `Add` / `AddV2` of a constant, or as a `_FusedMatMul` fusing only `BiasAdd`.
 * Anything else (a softmax or ReLU on the logits, a computed weight) is `HeadUnreadable`.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { type Head, headFrom, HeadUnreadable } from "./head.ts";
import type { Taps } from "./model.ts";

/** One node of a GraphModel's GraphDef, as `model.json` stores it. */
export interface GraphNode {
  readonly name: string;
  readonly op: string;
  readonly input?: ReadonlyArray<string>;
  readonly attr?: Readonly<Record<string, unknown>>;
}

/** The head of a LayersModel (see the module doc). */
export const layersHead = (
  name: string,
  model: tfType.LayersModel,
  taps: Pick<Taps, "penultimate" | "logits">,
): Effect.Effect<Head, HeadUnreadable> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new HeadUnreadable({ model: name, reason }));
    const layer = model.layers.find((l) => l.name === taps.logits);
    if (layer === undefined) return fail(`it has no layer "${taps.logits}"`);
    if (layer.getClassName() !== "Dense") {
      return fail(`the logits tap "${taps.logits}" is a ${layer.getClassName()} layer, not Dense`);
    }
    const activation = String(layer.getConfig()["activation"] ?? "linear");
    if (activation !== "linear") {
      return fail(
        `the Dense layer "${taps.logits}" has the non-linear activation ${activation}: its ` +
          "outputs are not h·W + b",
      );
    }
    const inbound = layer.inboundNodes[0]?.inboundLayers.map((l) => l.name) ?? [];
    if (inbound.length !== 1 || inbound[0] !== taps.penultimate) {
      return fail(
        `the Dense layer "${taps.logits}" reads ${inbound.join(", ") || "nothing"}, not the ` +
          `penultimate tap "${taps.penultimate}"`,
      );
    }
    const [kernel, bias] = layer.getWeights();
    if (kernel === undefined || kernel.shape.length !== 2) {
      return fail(`the Dense layer "${taps.logits}" has no 2-D kernel`);
    }
    return Effect.succeed(
      headFrom(kernel.dataSync() as Float32Array, kernel.shape[0]!, kernel.shape[1]!, {
        ...(bias && { bias: bias.dataSync() as Float32Array }),
      }),
    );
  });

/** A GraphDef input name without its output index (`:0`) or control marker (`^`). */
export const nodeOf = (input: string): string => input.replace(/^\^/, "").replace(/:\d+$/, "");

/** A boolean attribute of a GraphDef node (`{ b: true }`). */
const flag = (node: GraphNode, name: string): boolean =>
  (node.attr?.[name] as { readonly b?: boolean } | undefined)?.b === true;

/** The ops a `_FusedMatMul` fuses (`model.json` stores them base64-encoded). */
function fusedOps(node: GraphNode): ReadonlyArray<string> {
  const list = node.attr?.["fused_ops"] as
    | { readonly list?: { readonly s?: ReadonlyArray<string> } }
    | undefined;
  return (list?.list?.s ?? []).map((s) => {
    if (s === "BiasAdd") return s;
    try {
      return atob(s);
    } catch {
      return s;
    }
  });
}

/** The head of a GraphModel whose GraphDef nodes are `nodes` (see the module doc). */
export const graphHead = (
  name: string,
  model: tfType.GraphModel,
  nodes: ReadonlyArray<GraphNode>,
  taps: Pick<Taps, "penultimate" | "logits">,
): Effect.Effect<Head, HeadUnreadable> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new HeadUnreadable({ model: name, reason }));
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const weights = model.weights;
    const constant = (input: string | undefined) => {
      const node = byName.get(nodeOf(input ?? ""));
      return node?.op === "Const" ? weights[node.name]?.[0] : undefined;
    };
    const last = byName.get(taps.logits);
    if (last === undefined) return fail(`it has no node "${taps.logits}"`);
    let matmul = last;
    let biasInput: string | undefined;
    if (["BiasAdd", "Add", "AddV2"].includes(last.op)) {
      const inputs = last.input ?? [];
      const at = inputs.findIndex((i) => byName.get(nodeOf(i))?.op === "MatMul");
      if (inputs.length !== 2 || at < 0) {
        return fail(
          `the logits node "${taps.logits}" is a ${last.op} that does not follow a MatMul`,
        );
      }
      matmul = byName.get(nodeOf(inputs[at]!))!;
      biasInput = inputs[1 - at];
    } else if (last.op === "_FusedMatMul") {
      const ops = fusedOps(last);
      if (ops.length !== 1 || ops[0] !== "BiasAdd") {
        return fail(`the logits node "${taps.logits}" fuses ${ops.join(", ")}, not only BiasAdd`);
      }
      biasInput = last.input?.[2];
    } else if (last.op !== "MatMul") {
      return fail(
        `the logits node "${taps.logits}" is a ${last.op}, not a MatMul (+ BiasAdd) of the ` +
          "penultimate node (a non-linear last layer has no readable head)",
      );
    }
    const [h, w] = matmul.input ?? [];
    if (nodeOf(h ?? "") !== taps.penultimate) {
      return fail(`the MatMul "${matmul.name}" reads "${h}", not the penultimate node`);
    }
    if (flag(matmul, "transpose_a")) {
      return fail(`the MatMul "${matmul.name}" transposes the penultimate features`);
    }
    const kernel = constant(w);
    if (kernel === undefined || kernel.shape.length !== 2) {
      return fail(`the MatMul "${matmul.name}" weight "${w}" is not a stored 2-D constant`);
    }
    const transposed = flag(matmul, "transpose_b");
    const [d, c] = transposed ? [kernel.shape[1]!, kernel.shape[0]!] : kernel.shape;
    const bias = biasInput === undefined ? undefined : constant(biasInput);
    if (biasInput !== undefined && bias === undefined) {
      return fail(`the bias "${biasInput}" of "${taps.logits}" is not a stored constant`);
    }
    return Effect.succeed(
      headFrom(kernel.dataSync() as Float32Array, d!, c!, {
        transposed,
        ...(bias && { bias: bias.dataSync() as Float32Array }),
      }),
    );
  });
