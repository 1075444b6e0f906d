/**
 * The hand-assembled WebAssembly SIMD kernel of the exact and IVF indexes (no toolchain needed):
 * `block(qPtr, nq, ptPtr, pnPtr, nUnits, d, outPtr, outStride)` writes, for every group of 4
 * query rows and every unit of 8 points stored transposed (4 points' j-th values per 16-byte
 * vector), out[q][p] = pn[p] − 2 q·p in float32, pn[p] = ‖p‖² (layout and register use:
 * docs/internals/knn.md). Loops are do-while: callers pass nq ≥ 4, nUnits ≥ 1 and d ≥ 1.
 * tests/knn_exact_test.ts checks it against a naive loop.
 *
 * @module
 */
import { Effect } from "effect";
import { IndexTooLarge } from "./errors.ts";

const KERNEL_PARAMS = ["qPtr", "nq", "ptPtr", "pnPtr", "nUnits", "d", "outPtr", "outStride"];
const KERNEL_I32_LOCALS = [
  ...["qRow", "qRow2", "qRow3", "d16", "qEnd", "pnEnd", "qg", "outRow"],
  ...["pA", "pnp", "outp", "pa", "pEnd", "qj", "t"],
];
const ACCUMULATORS = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"];
const KERNEL_V128_LOCALS = [...ACCUMULATORS, "va", "vb", "s"];

const KERNEL_TEXT = (() => {
  // acc += s * x
  const madd = (acc: string, x: string) =>
    `local.get ${acc} local.get s local.get ${x} f32x4.mul f32x4.add local.set ${acc}`;
  // Query row (qj + offset): splat its j-th value, accumulate against both point groups.
  const queryRow = (offset: string, acc0: string, acc1: string) => `
    local.get qj ${offset === "" ? "" : `local.get ${offset} i32.add`} v128.load32_splat
    local.set s ${madd(acc0, "va")} ${madd(acc1, "vb")}`;
  const zero = ACCUMULATORS.map((a) => `v128.zero local.set ${a}`).join(" ");
  // out[t] = pn − (acc + acc) for both groups; then t += outStride.
  const storeRow = (acc0: string, acc1: string) => `
    local.get t local.get va local.get ${acc0} local.get ${acc0} f32x4.add f32x4.sub v128.store 0
    local.get t local.get vb local.get ${acc1} local.get ${acc1} f32x4.add f32x4.sub v128.store 16
    local.get t local.get outStride i32.add local.set t`;
  return `
    local.get d i32.const 2 i32.shl local.set qRow         ;; bytes per query row
    local.get qRow i32.const 1 i32.shl local.set qRow2
    local.get qRow2 local.get qRow i32.add local.set qRow3
    local.get d i32.const 4 i32.shl local.set d16          ;; bytes per transposed group of 4
    local.get qPtr local.get nq local.get qRow i32.mul i32.add local.set qEnd
    local.get pnPtr local.get nUnits i32.const 5 i32.shl i32.add local.set pnEnd
    local.get qPtr local.set qg
    local.get outPtr local.set outRow
    loop                                                   ;; groups of 4 queries
      local.get ptPtr local.set pA
      local.get pnPtr local.set pnp
      local.get outRow local.set outp
      loop                                                 ;; units of 8 points
        ${zero}
        local.get pA local.set pa
        local.get pA local.get d16 i32.add local.set pEnd
        local.get qg local.set qj
        loop                                               ;; columns
          local.get pa v128.load 0 local.set va
          local.get pa local.get d16 i32.add v128.load 0 local.set vb
          ${queryRow("", "a0", "a1")}
          ${queryRow("qRow", "a2", "a3")}
          ${queryRow("qRow2", "a4", "a5")}
          ${queryRow("qRow3", "a6", "a7")}
          local.get pa i32.const 16 i32.add local.set pa
          local.get qj i32.const 4 i32.add local.set qj
          local.get pa local.get pEnd i32.lt_u br_if 0
        end
        local.get pnp v128.load 0 local.set va
        local.get pnp v128.load 16 local.set vb
        local.get outp local.set t
        ${storeRow("a0", "a1")} ${storeRow("a2", "a3")}
        ${storeRow("a4", "a5")} ${storeRow("a6", "a7")}
        local.get pA local.get d16 i32.const 1 i32.shl i32.add local.set pA
        local.get pnp i32.const 32 i32.add local.set pnp
        local.get outp i32.const 32 i32.add local.set outp
        local.get pnp local.get pnEnd i32.lt_u br_if 0
      end
      local.get qg local.get qRow2 i32.const 1 i32.shl i32.add local.set qg
      local.get outRow local.get outStride i32.const 2 i32.shl i32.add local.set outRow
      local.get qg local.get qEnd i32.lt_u br_if 0
    end`;
})();

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n === 0 ? byte : byte | 0x80);
  } while (n !== 0);
  return out;
};
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const utf8 = (s: string): number[] => vector([...new TextEncoder().encode(s)].map((b) => [b]));

/** Opcodes without immediates (SIMD ones after the 0xfd prefix, LEB128-encoded). */
const PLAIN_OPCODES: Record<string, number[]> = {
  "i32.add": [0x6a],
  "i32.mul": [0x6c],
  "i32.shl": [0x74],
  "i32.lt_u": [0x49],
  "loop": [0x03, 0x40], // block type: no result
  "end": [0x0b],
  "v128.load32_splat": [0xfd, 0x09, 0x02, 0x00], // memarg: align 2^2, offset 0
  "v128.zero": [0xfd, 0x0c, ...new Array<number>(16).fill(0)], // v128.const 0
  "f32x4.add": [0xfd, 0xe4, 0x01],
  "f32x4.sub": [0xfd, 0xe5, 0x01],
  "f32x4.mul": [0xfd, 0xe6, 0x01],
};

/** Assemble the kernel text into a module importing a plain memory, or a shared one. */
function assembleKernel(shared: boolean): Uint8Array {
  const locals = [...KERNEL_PARAMS, ...KERNEL_I32_LOCALS, ...KERNEL_V128_LOCALS];
  const tokens = KERNEL_TEXT.replace(/;;[^\n]*/g, "").split(/\s+/).filter((t) => t !== "");
  const code: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const op = tokens[i]!;
    const immediate = () => tokens[++i]!;
    const local = () => {
      const at = locals.indexOf(immediate());
      if (at < 0) throw new Error(`kernel: unknown local ${tokens[i]}`);
      return uleb(at);
    };
    if (op === "local.get") code.push(0x20, ...local());
    else if (op === "local.set") code.push(0x21, ...local());
    else if (op === "i32.const") code.push(0x41, ...uleb(Number(immediate()))); // 0..63: unsigned = signed LEB128
    else if (op === "br_if") code.push(0x0d, ...uleb(Number(immediate())));
    else if (op === "v128.load") code.push(0xfd, 0x00, 0x04, ...uleb(Number(immediate())));
    else if (op === "v128.store") code.push(0xfd, 0x0b, 0x04, ...uleb(Number(immediate())));
    else if (op in PLAIN_OPCODES) code.push(...PLAIN_OPCODES[op]!);
    else throw new Error(`kernel: unknown instruction ${op}`);
  }
  code.push(0x0b); // end of function
  // import env.memory: limits min 1 (plain), or min 1 max 65,536 pages, shared
  const limits = shared ? [0x03, 0x01, ...uleb(65536)] : [0x00, 0x01];
  const I32 = 0x7f, V128 = 0x7b;
  const i32Locals = [...uleb(KERNEL_I32_LOCALS.length), I32];
  const v128Locals = [...uleb(KERNEL_V128_LOCALS.length), V128];
  const body = [...vector([i32Locals, v128Locals]), ...code];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vector([[0x60, ...vector(KERNEL_PARAMS.map(() => [I32])), 0x00]])), // type
    ...section(2, vector([[...utf8("env"), ...utf8("memory"), 0x02, ...limits]])),
    ...section(3, vector([[0x00]])), // function 0 has type 0
    ...section(7, vector([[...utf8("block"), 0x00, 0x00]])), // export "block" = function 0
    ...section(10, vector([[...uleb(body.length), ...body]])), // code
  ]);
}

const kernelModules: { plain?: WebAssembly.Module; shared?: WebAssembly.Module } = {};

/** The kernel's `block(qPtr, nq, ptPtr, pnPtr, nUnits, d, outPtr, outStride)`. */
export type KernelBlock = (...args: Array<number>) => void;

/** Instantiate the kernel over `memory`, plain or shared (each variant compiled once). */
export function instantiateKernel(memory: WebAssembly.Memory): KernelBlock {
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const module = kernelModules[shared ? "shared" : "plain"] ??= new WebAssembly.Module(
    assembleKernel(shared).buffer as ArrayBuffer,
  );
  return new WebAssembly.Instance(module, { env: { memory } }).exports.block as KernelBlock;
}

/** Queries per kernel call. */
export const QUERY_BLOCK = 128;
/** Points per kernel call: 512 × 64 columns × 4 B = 128 KiB, which stays in L2. */
export const POINT_BLOCK = 512;

/** Bytes of one thread's scratch at dimension `d`: a block of queries, then the kernel's output. */
const scratchBytes = (d: number): number => QUERY_BLOCK * d * 4 + QUERY_BLOCK * POINT_BLOCK * 4;

/** Byte offset of thread `thread`'s scratch (0: the calling thread's) after `slots` points. */
export const scratchOffset = (slots: number, d: number, thread: number): number =>
  slots * d * 4 + slots * 4 + thread * scratchBytes(d);

/** WebAssembly pages are 64 KiB; a 32-bit memory holds at most 65,536 of them (4 GiB). */
const PAGE = 65536;
const MAX_PAGES = 65536;

/**
 * The kernel's memory for `slots` transposed points of `d` columns, their norms, then one
 * scratch per thread: shared when there are several threads (they share one copy of the
 * points); an `IndexTooLarge` naming `index` beyond 4 GiB.
 */
export const kernelMemory = (
  slots: number,
  d: number,
  threads: number,
  index: string,
): Effect.Effect<WebAssembly.Memory, IndexTooLarge> => {
  const bytes = scratchOffset(slots, d, threads);
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  if (pages > MAX_PAGES) return Effect.fail(new IndexTooLarge({ index, bytes }));
  return Effect.succeed(
    threads > 1
      ? new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
      : new WebAssembly.Memory({ initial: pages }),
  );
};
