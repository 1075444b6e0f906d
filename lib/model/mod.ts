/**
 * grood's own classifier (a small residual CNN on tfjs): its spec, weights, forward pass to
 * any block boundary, training, saving and loading (the model key covers architecture,
 * weights and preprocessing). Predictions of any model are `predictClasses` (`lib/models`);
 * where the committed fixture models live is `fixtureDir` (`lib/benchmarks`).
 *
 * @module
 */
export {
  type BlockSpec,
  boundaryShapes,
  type Classifier,
  type ClassifierSpec,
  defaultSpec,
  type ForwardRange,
  initialWeights,
  makeClassifier,
  penultimate,
  type StatisticUpdate,
  type Tf,
  toInput,
  UnknownBoundary,
} from "./classifier.ts";
export {
  checkModelFolder,
  type ClassifierMetadata,
  loadClassifier,
  type LoadedClassifier,
  ModelLoadError,
  saveClassifier,
} from "./store.ts";
export { trainClassifier, type TrainOptions, type TrainProgress } from "./train.ts";
