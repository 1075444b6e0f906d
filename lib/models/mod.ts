/**
 * Models behind one interface (`FeatureModel`): grood's CNN, ONNX models on onnxruntime-node,
 * tfjs Layers and Graph models; opening by path (`openModel`), inspecting and proposing taps,
 * exporting grood's classifier (and its input gradient, for ODIN) to ONNX, predicting classes.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./model.ts";
export * from "./finite.ts";
export * from "./head.ts";
export { onnxHead } from "./onnx_head.ts";
export { graphHead, layersHead } from "./tfjs_head.ts";
export * from "./registry.ts";
export { openOnnxGraph, openOnnxModel, readOnnxFile } from "./onnx.ts";
export {
  type OnnxOptions,
  type OnnxSession,
  onnxSession,
  OnnxThreads,
  runSession,
  SESSION_OPEN_TIMEOUT,
  SESSION_RUN_TIMEOUT,
  sessionMemo,
} from "./onnx_session.ts";
export {
  groodFeatureModel,
  groodHead,
  groodInputSpec,
  groodPoints,
  groodTaps,
} from "./grood_cnn.ts";
export {
  EXPORT_TOLERANCE,
  exportDifference,
  GRADIENT_CHECK_TEMPERATURES,
  groodOnnxModel,
} from "./grood_onnx.ts";
export { GRADIENT_TOLERANCE, gradientDifference, tfjsInputGradient } from "./input_gradient.ts";
export { classifierGradientToOnnx, GRADIENT_OUTPUT, TEMPERATURE_INPUT } from "./export_gradient.ts";
export { DEFAULT_GROOD_ENGINE, type GroodEngine, openGroodModel } from "./grood_open.ts";
export { openTfjsModel, type TfjsFormat } from "./tfjs.ts";
export { classifierToOnnx, UnsupportedBlock } from "./export_onnx.ts";
export {
  inspectGrood,
  type Inspection,
  inspectOnnx,
  inspectTfjs,
  proposeOnnxTaps,
} from "./inspect.ts";
export { collectTaps, forEachBatch, type TapPassOptions } from "./batches.ts";
export { predictClasses } from "./predict.ts";
export {
  encodeOnnx,
  extractSubgraph,
  listTensors,
  type OnnxModel,
  type TensorInfo,
} from "./onnx_graph.ts";
