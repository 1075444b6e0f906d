/**
 * What `fitDetectorFolder` takes: its options, the memo of extractions several fits share, and
 * the output-folder rules those options imply.
 *
 * @module
 */
import type { OutputFolderOptions } from "../io/output_folder.ts";
import type { Taps } from "../models/model.ts";
import { type SourceArgument, sourcePaths } from "../sources/argument.ts";
import type { Extraction } from "../stages/features.ts";
import { FITTED_MANIFEST_FILE } from "./manifest.ts";

/** What `fitDetectorFolder` needs. */
export interface FitOptions {
  /** Path of the model (any kind `openModel` knows). */
  readonly model: string;
  /** Taps that replace the model spec's. */
  readonly taps?: Partial<Taps>;
  /** Labelled ID training images (a source argument: folder, `.npy`, IDX, `dataset:…`). */
  readonly train: SourceArgument;
  /** Labelled held-out ID images; absent: a seeded share of `train` is held out. */
  readonly validation?: SourceArgument;
  /** Validation-OOD sources (only detectors that tune on them read them). */
  readonly validationOod?: ReadonlyArray<SourceArgument>;
  /** The detector spec (`{ kind, …options }`); default GROOD with its defaults. */
  readonly detector?: unknown;
  /** The folder to write (replaced as a whole when it exists). */
  readonly out: string;
  /** Seed of the held-out validation split (default 0). */
  readonly seed?: number;
  /** Images per forward pass of the feature extraction (default 500). */
  readonly batchSize?: number;
  /** Reports a stage's progress (done of total). */
  readonly progress?: (stage: string, done: number, total: number) => void;
  /**
   * Extractions shared by several fits of one model on the same sources (one memo per
   * multi-detector `deno task fit`): each set's forward pass runs once, not once per detector.
   */
  readonly features?: FeatureMemo;
  /**
   * Hold the training set and its features in memory even for GROOD (which by default fits
   * streaming, in memory that grows with its index only): the reference path the streamed
   * fit is tested against.
   */
  readonly inMemory?: boolean;
}
/** Extractions by model, taps, batch size, set (name, count) and class sums: see `FitOptions`. */
export type FeatureMemo = Map<string, Extraction>;

/**
 * The output-folder rules of a fitted folder: its inputs (the model, every source's files) are
 * never replaced, and a folder holding `detector.json` (written before the marker) is grood's.
 */
export const fittedFolderRules = (options: FitOptions): OutputFolderOptions => ({
  kind: "fitted detector",
  inputs: [
    options.model,
    ...[options.train, options.validation, ...(options.validationOod ?? [])].flatMap((s) =>
      s === undefined ? [] : sourcePaths(s.spec, s.baseDir)
    ),
  ],
  recognise: [FITTED_MANIFEST_FILE],
});
