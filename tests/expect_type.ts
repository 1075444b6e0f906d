/**
 * Compile-time assertions in the style of `expectTypeOf` (vitest, expect-type), for type tests
 * that `deno check` compiles: a wrong type is a compile error at the assertion, nothing runs.
 *
 * @example
 * ```ts
 * import { expectTypeOf } from "./expect_type.ts";
 * expectTypeOf<"a" | "b">().toEqualTypeOf<"b" | "a">();
 * expectTypeOf<"a">().toExtend<string>();
 * // @ts-expect-error: string is wider than "a"
 * expectTypeOf<string>().toEqualTypeOf<"a">();
 * ```
 *
 * @module
 */

/**
 * `true` when `A` and `B` are the same type (each assignable to the other, and no `any`
 * hiding a difference), else `false`: the comparison of two deferred conditional types.
 */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? true
  : false;

/** An argument list that exists only when `Ok` is `true`: a call fails to compile otherwise. */
type OnlyIf<Ok extends boolean> = Ok extends true ? [] : [mismatch: never];

/** What `expectTypeOf<A>()` offers: each method compiles only when its claim about `A` holds. */
export interface TypeExpectation<A> {
  /** `A` is exactly `B`. */
  readonly toEqualTypeOf: <B>(...mismatch: OnlyIf<Equals<A, B>>) => void;
  /** `A` is assignable to `B`. */
  readonly toExtend: <B>(...mismatch: OnlyIf<[A] extends [B] ? true : false>) => void;
  /** `A` is not assignable to `B`. */
  readonly notToExtend: <B>(...mismatch: OnlyIf<[A] extends [B] ? false : true>) => void;
}

/** Claims about the type `A` (or the type of `value`), checked by the compiler. */
export function expectTypeOf<A>(_value?: A): TypeExpectation<A> {
  const none = () => {};
  return { toEqualTypeOf: none, toExtend: none, notToExtend: none };
}
