/**
 * GROOD's defaults that adapt to the model and the data, resolved when a fit knows both: the early
 * boundary is the model's early tap, the mix-up mixes min(10,000, N) of the N training images.
 *
 * @module
 */
import type { GroodOptions } from "./grood_options.ts";
import { mixupSamples } from "../stages/mixup.ts";

/** GROOD's options with the defaults that depend on the model and the data filled in. */
export type ResolvedGroodOptions = GroodOptions & { readonly earlyBoundary: string };

/**
 * Fill in the defaults that adapt to the model and the data (see the module doc), keeping values
 * given (callers that can name the user's input check a mix-up count above N).
 */
export function resolveGroodOptions(
  options: GroodOptions,
  context: { readonly earlyTap: string; readonly trainCount: number },
): ResolvedGroodOptions {
  const source = options.oodPrototype;
  return {
    ...options,
    earlyBoundary: options.earlyBoundary ?? context.earlyTap,
    oodPrototype: source.kind === "mixup"
      ? { ...source, samples: mixupSamples(source.samples, context.trainCount) }
      : source,
  };
}

/** The early tap of grood's CNN (its first residual block): the early boundary when none is known. */
export const GROOD_CNN_EARLY_TAP = "block1";
