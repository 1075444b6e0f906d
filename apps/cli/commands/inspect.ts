/**
 * `grood inspect`: the flags of `tasks/inspect.ts`.
 *
 * @module
 */
import { flag } from "../flags.ts";
import { task } from "../task.ts";

/** `grood inspect`. */
export const inspectTask = task("inspect", {
  summary: "List a model's tensors (name, op, shape) and propose its early, penultimate and " +
    "logits taps.",
  flags: {
    model: flag.required("ONNX file, grood model folder, or tfjs model.json (or its folder)", {
      placeholder: "PATH",
    }),
    layout: flag.choice(["NCHW", "NHWC"] as const, "input layout of an ONNX model", {
      default: "NCHW",
    }),
    json: flag.boolean("print the inspection as JSON"),
  },
});
