/**
 * Optional JSON files grood reads (a memo, a manifest), decoded strictly: absent is `undefined`,
 * anything wrong a typed error naming the file and every problem.
 *
 * @module
 */
import { Effect, type Schema } from "effect";
import { decodeJsonText, problemsText } from "../decode.ts";
import { osReason, readOptionalText } from "./files.ts";

/**
 * Read and strictly decode the JSON file at `path` with `schema`; `undefined` when there is
 * no such file. Any other failure is `invalid(problem)`, the caller's tagged error.
 *
 * @example A mistyped file names its key
 * ```ts
 * import { Effect, Schema } from "effect";
 * import { readOptionalJson } from "./json_file.ts";
 * const path = `${await Deno.makeTempDir()}/memo.json`;
 * const read = readOptionalJson(Schema.Struct({ size: Schema.Number }), path, (p) => p);
 * if (await Effect.runPromise(read) !== undefined) throw new Error("absent is undefined");
 * await Deno.writeTextFile(path, '{"size": "3"}');
 * const problem = await Effect.runPromise(Effect.flip(read));
 * if (!problem.startsWith("size:")) throw new Error(problem);
 * ```
 */
export const readOptionalJson = <S extends Schema.Top & { readonly DecodingServices: never }, E>(
  schema: S,
  path: string,
  invalid: (problem: string) => E,
): Effect.Effect<S["Type"] | undefined, E> =>
  Effect.tryPromise({
    try: () => readOptionalText(path),
    catch: (error) => invalid(`cannot read it (${osReason(error)})`),
  }).pipe(
    Effect.flatMap((text) =>
      text === undefined ? Effect.succeed(undefined) : decodeJsonText(schema, path)(text).pipe(
        Effect.mapError((error) => invalid(problemsText(error))),
      )
    ),
  );
