/**
 * A faster `Conv2DBackpropInput` for the wasm backend. The one wasm ships is a plain loop, about
 * 10x slower than its forward convolution (measured: 232 ms against 20 ms for a batch of 128
 * at 28×28×16); as the input gradient of every conv layer it dominated a training step.
 *
 * Why a convolution: the input gradient of a convolution is a convolution of the output
 * gradient, dilated by the stride (zeros between its values) and padded, with the filter
 * rotated by 180° and its in/out channels swapped. All of those are wasm kernels, and wasm's
 * forward convolution is fast (XNNPACK).
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";

type Tf = typeof tfType;

/** Replace `Conv2DBackpropInput` on `backendName` with ours (idempotent). */
export function registerConv2DBackpropInput(tf: Tf, backendName = "wasm"): void {
  const marker = "groodConv2DBackpropInput";
  const current = tf.getKernelsForBackend(backendName)
    .find((k) => k.kernelName === "Conv2DBackpropInput");
  if ((current as { [marker]?: boolean } | undefined)?.[marker]) return;
  if (current !== undefined) tf.unregisterKernel("Conv2DBackpropInput", backendName);
  const config: tfType.KernelConfig & { [marker]: boolean } = {
    [marker]: true,
    kernelName: "Conv2DBackpropInput",
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { dy, filter } = inputs as { dy: tfType.TensorInfo; filter: tfType.TensorInfo };
      const { strides, pad, dimRoundingMode, inputShape, dataFormat } = attrs as {
        strides: [number, number] | number;
        pad: "valid" | "same" | number | tfType.backend_util.ExplicitPadding;
        dimRoundingMode?: "floor" | "round" | "ceil";
        inputShape: [number, number, number, number];
        dataFormat?: string;
      };
      if (dataFormat !== undefined && dataFormat !== "NHWC") {
        throw new Error(`Conv2DBackpropInput (grood wasm kernel): only NHWC, got ${dataFormat}`);
      }
      const engine = tf.engine();
      return tf.tidy(() => {
        // Balance the disposal of the wrappers below so the caller's buffers survive.
        (backend as unknown as { incRef(id: object): void }).incRef(dy.dataId);
        (backend as unknown as { incRef(id: object): void }).incRef(filter.dataId);
        const gradient = engine.makeTensorFromTensorInfo(dy) as tfType.Tensor4D;
        const weights = engine.makeTensorFromTensorInfo(filter) as tfType.Tensor4D;
        const [kh, kw] = weights.shape;
        const info = tf.backend_util.computeConv2DInfo(
          inputShape,
          weights.shape,
          strides,
          1,
          pad,
          dimRoundingMode,
        );
        const [n, oh, ow, co] = gradient.shape;
        const [sh, sw] = [info.strideHeight, info.strideWidth];
        let dilated: tfType.Tensor4D = gradient;
        if (sh > 1 || sw > 1) {
          // Put s-1 zeros after every value along H and W, then drop the trailing zeros.
          const spread = tf.pad(tf.reshape(gradient, [n, oh, 1, ow, 1, co]), [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ]);
          dilated = tf.slice(
            tf.reshape(spread, [n, oh * sh, ow * sw, co]),
            [0, 0, 0, 0],
            [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, co],
          ) as tfType.Tensor4D;
        }
        const [, h, w] = inputShape;
        const { top, left } = info.padInfo;
        const padTop = kh - 1 - top;
        const padLeft = kw - 1 - left;
        const padBottom = h + kh - 1 - dilated.shape[1] - padTop;
        const padRight = w + kw - 1 - dilated.shape[2] - padLeft;
        // A negative pad means the forward pass never read those rows: crop instead.
        const padded = tf.slice(
          tf.pad(dilated, [
            [0, 0],
            [Math.max(padTop, 0), Math.max(padBottom, 0)],
            [Math.max(padLeft, 0), Math.max(padRight, 0)],
            [0, 0],
          ]),
          [0, Math.max(-padTop, 0), Math.max(-padLeft, 0), 0],
          [n, h + kh - 1, w + kw - 1, co],
        );
        const rotated = tf.transpose(tf.reverse(weights, [0, 1]), [0, 1, 3, 2]);
        return tf.conv2d(padded, rotated as tfType.Tensor4D, 1, "valid");
      });
    },
  };
  tf.registerKernel(config);
}
