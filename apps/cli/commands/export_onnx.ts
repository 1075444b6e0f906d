/**
 * `grood export-onnx`: the flags of `tasks/export_onnx.ts`.
 *
 * @module
 */
import { extname } from "node:path";
import { flag } from "../flags.ts";
import { overwriteFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/** `grood export-onnx`. */
export const exportOnnxTask = task(
  "export-onnx",
  {
    summary: "Export a grood classifier folder to ONNX, with its model spec next to it.",
    flags: {
      model: flag.string("grood model folder (default: the mnist fixture)", { placeholder: "DIR" }),
      out: flag.required("the ONNX file to write", { placeholder: "FILE.onnx" }),
      overwrite: overwriteFlag,
    },
  },
  ({ values }) =>
    extname(values.out) === ".onnx"
      ? undefined
      : `--out must name a .onnx file, not "${values.out}"`,
);
