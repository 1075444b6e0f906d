/**
 * The flags several tasks take, declared once: the same name, help and checks wherever they
 * appear.
 *
 * @module
 */
import { flag } from "./flags.ts";

/** `--backend`: the tfjs backend of every computing task. */
export const backendFlag = flag.choice(
  ["auto", "tensorflow", "wasm", "cpu", "webgpu"] as const,
  "tfjs backend (default: GROOD_BACKEND or auto)",
);

/** `--detector DIR`: the fitted-detector folder of `score`, `evaluate-ood` and `serve`. */
export const detectorFolderFlag = flag.required(
  "the fitted detector folder (written by `grood fit`)",
  { placeholder: "DIR" },
);

/** `--no-cache`: run without the stage cache. */
export const noCacheFlag = flag.boolean("compute every stage again and store nothing");

/** `--overwrite`: a task writing one file replaces an existing one only when given. */
export const overwriteFlag = flag.boolean(
  "replace --out when it exists (else an existing file is refused)",
);

/**
 * Default onnxruntime threads of the tasks whose time is a feature pass over whole sets
 * (`reproduce`, `ablate`, `fit`).
 */
export const BULK_THREADS = 2;

/**
 * Default onnxruntime threads of the tasks that search while the next batch's pass runs
 * (`score`, `evaluate-ood`): the search needs the other core.
 */
export const SCORING_THREADS = 1;

/**
 * `--threads N`: onnxruntime's intra-op threads in each of the task's model sessions (the
 * context's `Models.OnnxThreads`); results do not depend on it. `fallback` is the task's
 * default, measured on that task's path (`docs/performance.md`).
 */
export const threadsFlag = (fallback: number) =>
  flag.integer("onnxruntime threads per model session", {
    min: 1,
    max: 64,
    default: fallback,
  });
