/**
 * `Conv2DBackpropFilter` for the wasm backend, which ships without it (so no CNN can train on
 * wasm out of the box). Built only from kernels wasm has: Pad, Transpose, Conv2D, Slice.
 *
 * Why a convolution: for NHWC input x [N,H,W,Ci] and output gradient dy [N,OH,OW,Co] with
 * stride s, dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s+kh, ow·s+kw, ci] · dy[n,oh,ow,co]. Moving
 * the batch axis into the channel position turns that sum into one "valid" convolution of x
 * (as [Ci,Hp,Wp,N]) with dy (as a filter [OH,OW,N,Co]) dilated by s.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";

type Tf = typeof tfType;

/** Register our `Conv2DBackpropFilter` kernel for `backendName` (idempotent). */
export function registerConv2DBackpropFilter(tf: Tf, backendName = "wasm"): void {
  const existing = tf.getKernelsForBackend(backendName)
    .some((k) => k.kernelName === "Conv2DBackpropFilter");
  if (existing) return;
  tf.registerKernel({
    kernelName: "Conv2DBackpropFilter",
    backendName,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, dy } = inputs as { x: tfType.TensorInfo; dy: tfType.TensorInfo };
      const { strides, pad, dimRoundingMode, filterShape, dataFormat, dilations } = attrs as {
        strides: [number, number] | number;
        pad: "valid" | "same" | number | tfType.backend_util.ExplicitPadding;
        dimRoundingMode?: "floor" | "round" | "ceil";
        filterShape: [number, number, number, number];
        dataFormat?: string;
        dilations?: [number, number] | number;
      };
      if (dataFormat !== undefined && dataFormat !== "NHWC") {
        throw new Error(`Conv2DBackpropFilter (grood wasm kernel): only NHWC, got ${dataFormat}`);
      }
      const dilation = Array.isArray(dilations) ? dilations : [dilations ?? 1, dilations ?? 1];
      if (dilation[0] !== 1 || dilation[1] !== 1) {
        throw new Error("Conv2DBackpropFilter (grood wasm kernel): dilation must be 1");
      }
      const engine = tf.engine();
      return tf.tidy(() => {
        // The engine disposes the wrappers we make at the end of tidy; take a reference so the
        // caller's buffers survive (without this the kernel frees its inputs early).
        (backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
        (backend as unknown as { incRef(id: object): void }).incRef(dy.dataId);
        const input = engine.makeTensorFromTensorInfo(x) as tfType.Tensor4D;
        const gradient = engine.makeTensorFromTensorInfo(dy) as tfType.Tensor4D;
        const info = tf.backend_util.computeConv2DInfo(
          input.shape,
          filterShape,
          strides,
          1,
          pad,
          dimRoundingMode,
        );
        const { top, bottom, left, right } = info.padInfo;
        const padded = top || bottom || left || right
          ? tf.pad(input, [[0, 0], [top, bottom], [left, right], [0, 0]])
          : input;
        const xAsImages = tf.transpose(padded, [3, 1, 2, 0]); // [Ci, Hp, Wp, N]
        const dyAsFilter = tf.transpose(gradient, [1, 2, 0, 3]); // [OH, OW, N, Co]
        const full = tf.conv2d(xAsImages, dyAsFilter, 1, "valid", "NHWC", [
          info.strideHeight,
          info.strideWidth,
        ]); // [Ci, >=KH, >=KW, Co]
        const cropped = tf.slice(full, [0, 0, 0, 0], [-1, filterShape[0], filterShape[1], -1]);
        return tf.transpose(cropped, [1, 2, 0, 3]); // [KH, KW, Ci, Co]
      });
    },
  });
}
