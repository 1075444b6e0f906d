/**
 * GROOD's defaults that adapt to the model and the data, resolved when a fit knows both: the
 * early boundary is the model's early tap (`block1` on grood's CNN, a tensor or layer name on
 * another kind), and the mix-up mixes min(10,000, N) of the N training images. A value the user
 * gives is kept, and a spec's value that cannot be honoured (a layer the model lacks, more mixes
 * than images) is refused by the doors that read specs (`checkPipeline`, `fit`'s `honoured`).
 *
 * @module
 */
import type { FitInputs } from "./detector.ts";
import type { GroodOptions } from "./grood_options.ts";
import { groodTaps } from "../models/grood_cnn.ts";
import { mixupSamples } from "../stages/mixup.ts";

/** GROOD's options with the defaults that depend on the model and the data filled in. */
export type ResolvedGroodOptions = GroodOptions & { readonly earlyBoundary: string };

/**
 * Fill in the defaults that adapt to the model and the data: the early boundary is the model's
 * early tap, the mix-up mixes min(10,000, N) of the N training images. Values given are kept
 * (a mix-up count above N is checked by the callers that can name the user's input). The
 * result is what runs, and what the settings report.
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

/** The early tap of the model a GROOD fit runs on (`GROOD_CNN_EARLY_TAP` when none is known). */
export const earlyTapOf = (inputs: Pick<FitInputs, "model" | "net">): string =>
  inputs.model?.taps.early ??
    (inputs.net !== undefined ? groodTaps(inputs.net).early : GROOD_CNN_EARLY_TAP);
