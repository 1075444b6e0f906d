/**
 * Tests' `Compute`: tfjs on wasm, started once per test process, and runners that provide it
 * to an effect (stages and detectors read tfjs from the Effect context).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Cause, Effect, Exit, type Scope } from "effect";
import { Compute, type ComputeShape, startCompute } from "../lib/compute/compute.ts";
import type { Classifier } from "../lib/model/classifier.ts";
import { groodFeatureModel } from "../lib/models/grood_cnn.ts";
import type { FeatureModel } from "../lib/models/model.ts";

/** tfjs on wasm with grood's kernels. */
export const compute: ComputeShape = await Effect.runPromise(startCompute("wasm"));

/** The tfjs module of {@link compute}. */
export const tf: ComputeShape["tf"] = compute.tf;

/** `effect` with {@link compute} provided. */
export const withCompute = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, Exclude<R, Compute>> => Effect.provideService(effect, Compute, compute);

/** `Effect.runPromise` with {@link compute} provided. */
export const runPromise = <A, E>(effect: Effect.Effect<A, E, Compute>): Promise<A> =>
  Effect.runPromise(withCompute(effect));

/** `Effect.runPromiseExit` with {@link compute} provided. */
export const runPromiseExit = <A, E>(
  effect: Effect.Effect<A, E, Compute>,
): Promise<Exit.Exit<A, E>> => Effect.runPromiseExit(withCompute(effect));

/** Run `effect` in a scope of its own with {@link compute} provided. */
export const runScoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | Compute>): Promise<A> =>
  Effect.runPromise(withCompute(Effect.scoped(effect)));

/**
 * The error `effect` (run as {@link runScoped} runs it) fails with; asserts that it fails.
 * Defects count too: `Cause.squash` picks the failure, else the defect.
 */
export const scopedFailure = async <A, E>(
  effect: Effect.Effect<A, E, Scope.Scope | Compute>,
): Promise<{ readonly _tag: string; readonly message: string }> => {
  const exit = await Effect.runPromiseExit(withCompute(Effect.scoped(effect)));
  assert.ok(Exit.isFailure(exit), "expected a failure");
  return Cause.squash(exit.cause) as { _tag: string; message: string };
};

/** grood's tfjs network `net` as a `FeatureModel` (the caller keeps owning `net`). */
export const groodModel = (net: Classifier, name = "grood's classifier"): Promise<FeatureModel> =>
  runPromise(groodFeatureModel(compute.tf, net, name));
