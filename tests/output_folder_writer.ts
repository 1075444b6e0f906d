/**
 * A process that keeps replacing one output folder (`deno run -A output_folder_writer.ts DIR`):
 * generation after generation, each a set of files all holding the generation's number,
 * written through `writeOutputFolder`. The output-folder property test kills it with SIGKILL at
 * a random moment and checks what is left. Prints `generation N` after each complete write.
 */
import { Effect } from "effect";
import { join } from "node:path";
import { writeOutputFolder } from "../lib/io/output_folder.ts";

/** Files per generation, and bytes per file (enough to make a write take a while). */
export const WRITER_FILES = 12;
export const WRITER_BYTES = 64 * 1024;

if (import.meta.main) {
  const dir = Deno.args[0]!;
  for (let generation = 1;; generation++) {
    await Effect.runPromise(
      writeOutputFolder(dir, { kind: "test" }, (tmp) =>
        Effect.promise(async () => {
          for (let i = 0; i < WRITER_FILES; i++) {
            const bytes = new Uint8Array(WRITER_BYTES).fill(generation % 251);
            await Deno.writeFile(join(tmp, `part-${i}.bin`), bytes);
          }
          await Deno.writeTextFile(join(tmp, "generation.txt"), String(generation));
        })),
    );
    console.log(`generation ${generation}`);
  }
}
