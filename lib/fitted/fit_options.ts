/**
 * What `fitDetectorFolder` takes: its options, the memo of extractions several fits share, and
 * the output-folder rules those options imply.
 *
 * @module
 */
import type { InvalidImageSet } from "../data/checks.ts";
import type { InvalidInput } from "../decode.ts";
import type { DetectorError } from "../detectors/errors.ts";
import type { ChunkMapFailed, TrainingStreamInvalid } from "../detectors/grood_chunks.ts";
import type { ChunkMapper } from "../detectors/grood_streamed.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { OutputFolderRefused } from "../io/output_folder.ts";
import type { MissingLabels } from "../stages/features.ts";
import type { DegenerateScores, FitDataInvalid, UnsupportedFittedDetector } from "./errors.ts";
import type { OutputFolderOptions } from "../io/output_folder.ts";
import type { SourceError } from "../sources/source.ts";
import type { Taps } from "../models/model.ts";
import { argumentPaths, type SourceArgument } from "../sources/argument.ts";
import type { Extraction } from "../stages/features.ts";
import { FITTED_MANIFEST_FILE } from "./manifest.ts";

/**
 * What `fitDetectorFolder` needs. Its passes report to the context's `Progress` (the command
 * line provides a bar on stderr).
 */
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
  /**
   * Images per chunk of GROOD's fit, streamed or in memory (default `FIT_CHUNK`): a setting
   * of the fit (its prototypes are sums of chunk sums), recorded in the folder's settings as
   * `fitChunk`.
   */
  readonly fitChunk?: number;
  /**
   * Who maps GROOD's chunks (default: this process): the cluster's driver gives runners the
   * work (`apps/cluster`). Called once the training data is known.
   */
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

/**
 * The output-folder rules of a fitted folder: its inputs (the model, every source's files) are
 * never replaced, and a folder holding `detector.json` (written before the marker) is grood's.
 */
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

/**
 * What `fitDetectorFolder` can fail with: the typed errors of every step it runs (reading the
 * spec, the sources and the model, checking the data, fitting any registered detector, writing
 * the folder). Spelled out so that `deno doc` shows it; `fitFolder` must fit it.
 */
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
