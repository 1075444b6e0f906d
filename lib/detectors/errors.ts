/**
 * What any detector grood ships may fail with, as one closed union of tagged errors, so a caller
 * can match on `_tag` exhaustively.
 *
 * @module
 */
import type { InvalidParameter, NonFiniteInput } from "../errors.ts";
import type { IndexBuildError } from "../knn/kind.ts";
import type { SearchError, SearchWorkerError } from "../knn/errors.ts";
import type { ModelError } from "../models/errors.ts";
import type { NonFiniteOutput } from "../models/finite.ts";
import type { ScoreError } from "../stages/evaluate.ts";
import type { EmptyClass as EmptyPrototypeClass, MissingFeatures } from "../stages/prototype.ts";
import type { ShapeMismatch } from "../stages/gradient.ts";
import type { CheckError, InconsistentFitInputs } from "./checks.ts";
import type { TrainingStreamInvalid } from "./grood_chunks.ts";
import type { NeedsClassifier } from "./detector.ts";
import type { MissingHead } from "./logits.ts";
import type { BadLabels, EmptyClass } from "./mahalanobis.ts";
import type { TuneError } from "./tune.ts";
import type { DegenerateResidual } from "./vim.ts";

/**
 * Every error a registered detector's fit or score may fail with. Each names the input and
 * what is wrong (see its class).
 */
export type DetectorError =
  // The edge checks every detector runs behind (`withInputChecks`) and its own settings.
  | CheckError
  | InconsistentFitInputs
  | InvalidParameter
  | NonFiniteInput
  // What a detector needs from the model: grood's own network, a classifier head.
  | NeedsClassifier
  | MissingHead
  | ModelError
  | NonFiniteOutput
  // Hyper-parameters tuned on validation data, and the scores they are chosen by.
  | TuneError
  | ScoreError
  // Class statistics (Mahalanobis, RMDS, GROOD's prototypes) and ViM's residual space.
  | EmptyClass
  | EmptyPrototypeClass
  | BadLabels
  | MissingFeatures
  | DegenerateResidual
  // GROOD's chunked fit (training chunks that break its contract), descriptors and search.
  | TrainingStreamInvalid
  | ShapeMismatch
  | IndexBuildError
  | SearchError
  | SearchWorkerError;
