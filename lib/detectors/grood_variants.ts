/**
 * GROOD's registry entries: GROOD and its ablations and extensions, each GROOD with some options
 * fixed. The computation is in `grood.ts`.
 *
 * @module
 */
import { Schema } from "effect";
import { defineDetector, type DetectorEntry } from "./entry.ts";
import { grood } from "./grood.ts";
import { groodFields, type GroodOptions, GroodOptionsSpec } from "./grood_options.ts";

/** The τ grid of the `grood-tuned-temperature` extension. */
export const TEMPERATURE_GRID: ReadonlyArray<number> = [1, 3, 10, 30, 100];

/**
 * The reference's first validation-OOD batch: OpenOOD's loaders give 200 images a batch (its
 * `n_noise_samples` asks for at least 100, so one batch is taken).
 */
export const REFERENCE_FIRST_BATCH = 200;

/** The options of a GROOD variant whose OOD prototype is fixed. */
const VariantOptions = Schema.Struct(groodFields);
type VariantOptions = typeof VariantOptions.Type;

/** Register a GROOD variant: GROOD's options with some fixed (`fixed` wins). */
const variant = <const K extends string>(
  kind: K,
  title: string,
  family: "grood-ablation" | "grood-extension",
  source: string,
  fixed: (options: VariantOptions) => Partial<GroodOptions>,
): DetectorEntry<K, typeof groodFields> =>
  defineDetector({
    kind,
    title,
    family,
    source,
    reproduce: true,
    options: VariantOptions,
    make: (options, name) => grood({ ...options, ...fixed(options) }, name),
  });

export const groodEntry = defineDetector({
  kind: "grood",
  title: "GROOD",
  family: "grood",
  source: "ElAraby et al., TMLR 2025; OpenOOD `grood`",
  reproduce: true,
  options: GroodOptionsSpec,
  make: (options, name) => grood(options, name),
});

/** Ablation: GROOD without mix-up (the OOD prototype is the mean of the class prototypes). */
export const groodNoMixupEntry = variant(
  "grood-no-mixup",
  "GROOD-no-mixup",
  "grood-ablation",
  "OOD prototype = mean of the class prototypes (the reference's `use_proto_mean`)",
  () => ({ oodPrototype: { kind: "mean" } }),
);

/** Ablation: distance to the OOD prototype, without gradients or index. */
export const groodDistanceEntry = variant(
  "grood-distance",
  "GROOD-distance",
  "grood-ablation",
  "score −‖h − p_ood‖: no gradient, no index",
  () => ({ descriptor: "distance" }),
);

/**
 * Extension (not in the paper): GROOD with the NCP-logit temperature chosen on the
 * validation data (ID validation vs validation-OOD), from `TEMPERATURE_GRID` by default.
 */
export const groodTunedTemperatureEntry = variant(
  "grood-tuned-temperature",
  "GROOD-τ (extension)",
  "grood-extension",
  "NCP temperature τ tuned on validation data (our extension)",
  (options) => ({ temperatureGrid: options.temperatureGrid ?? TEMPERATURE_GRID }),
);

/**
 * The reference's default: the OOD prototype is the mean penultimate feature of the first
 * validation-OOD batch ({@link REFERENCE_FIRST_BATCH} images). Uses validation OOD images.
 */
export const groodValidationBatchEntry = variant(
  "grood-val-ood-batch",
  "GROOD-valOOD-batch (uses val-OOD)",
  "grood-ablation",
  "OOD prototype = mean feature of the first 200 validation-OOD images (the reference's " +
    "default `use_val_ood`); uses validation OOD images",
  () => ({ oodPrototype: { kind: "validation", firstImages: REFERENCE_FIRST_BATCH } }),
);

/** The OOD prototype from the whole validation-OOD split. Uses validation OOD images. */
export const groodValidationEntry = variant(
  "grood-val-ood",
  "GROOD-valOOD-all (uses val-OOD)",
  "grood-ablation",
  "OOD prototype = mean feature of every validation-OOD image; uses validation OOD images",
  () => ({ oodPrototype: { kind: "validation" } }),
);
