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
