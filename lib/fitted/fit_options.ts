/**
 * What `fitDetectorFolder` takes, and the output-folder rules its options imply.
 *
 * @module
 */
import type { InvalidImageSet } from "../data/checks.ts";
import type { InvalidInput } from "../decode.ts";
import type { DetectorError } from "../detectors/errors.ts";
import type { ChunkMapFailed, TrainingStreamInvalid } from "../detectors/grood_chunks.ts";
import type { ChunkMapper } from "../detectors/grood_streamed.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { OutputFolderOptions, OutputFolderRefused } from "../io/output_folder.ts";
import type { Extraction, MissingLabels } from "../stages/features.ts";
import type { DegenerateScores, FitDataInvalid, UnsupportedFittedDetector } from "./errors.ts";
import type { SourceError } from "../sources/source.ts";
import type { Taps } from "../models/model.ts";
import { argumentPaths, type SourceArgument } from "../sources/argument.ts";
import { FITTED_MANIFEST_FILE } from "./manifest.ts";

/** What `fitDetectorFolder` needs; its passes report to the context's `Progress`. */
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
  /** Extractions shared by the fits of one multi-detector `deno task fit` (one pass per set). */
  readonly features?: FeatureMemo;
  /** Fit GROOD in memory (it streams by default): the reference the streamed fit is tested on. */
  readonly inMemory?: boolean;
  /** Images per chunk of GROOD's fit (default `FIT_CHUNK`), recorded as the setting `fitChunk`. */
  readonly fitChunk?: number;
  /** Who maps GROOD's chunks (default: this process; `apps/cluster` gives them to runners). */
  readonly mapper?: (training: StreamedTraining) => ChunkMapper<SourceError>;
}

/** What a streamed GROOD fit's {@link FitOptions.mapper} is told about the training data. */
export interface StreamedTraining {
  /** The class order the labels are renumbered into. */
  readonly classNames: ReadonlyArray<string>;
  /** Source indices held out as ID validation (not in the training stream). */
  readonly held: ReadonlySet<number>;
  /** Images in the source when the fit began. */
  readonly sourceCount: number;
  /** Images in the training stream (the source less `held`). */
  readonly trainCount: number;
  /** The model's content hash (the folder's `model.sha256`). */
  readonly modelSha256: string;
}
/** Extractions by model, taps, batch size, set (name, count) and class sums: see `FitOptions`. */
export type FeatureMemo = Map<string, Extraction>;

/** Output-folder rules: inputs never replaced; a folder holding `detector.json` is grood's. */
export const fittedFolderRules = (options: FitOptions): OutputFolderOptions => ({
  kind: "fitted detector",
  inputs: [
    options.model,
    ...[options.train, options.validation, ...(options.validationOod ?? [])].flatMap((s) =>
      s === undefined ? [] : argumentPaths(s)
    ),
  ],
  recognise: [FITTED_MANIFEST_FILE],
});

/** What `fitDetectorFolder` can fail with (spelled out for `deno doc`; `fitFolder` must fit it). */
export type FitFolderError =
  | InvalidInput
  | SourceError
  | InvalidImageSet
  | MissingLabels
  | DetectorError
  | TrainingStreamInvalid
  | ChunkMapFailed
  | FitDataInvalid
  | DegenerateScores
  | UnsupportedFittedDetector
  | OutputFolderRefused
  | PathOutsideBase
  | LinkLeavesRoot;
