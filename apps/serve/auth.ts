/**
 * Optional bearer-token check. The token is compared in constant time: both sides are hashed
 * (SHA-256) first, so neither the content nor the length of the expected token leaks through
 * the comparison's timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/**
 * A check of `Authorization: Bearer <token>` headers against `token`; with no token every request
 * passes.
 *
 * @example
 * ```ts
 * import { bearerCheck } from "./auth.ts";
 * const allowed = bearerCheck("s3cret");
 * if (!allowed("Bearer s3cret") || allowed("Bearer s3cre") || allowed(null)) throw new Error();
 * if (!bearerCheck(undefined)(null)) throw new Error("no token: open");
 * ```
 */
export function bearerCheck(token: string | undefined): (header: string | null) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (header) => {
    const match = /^Bearer +(.+)$/i.exec(header ?? "");
    const given = digest(match?.[1] ?? "");
    // Compare even when the header is missing, so its absence costs the same time.
    return timingSafeEqual(given, expected) && match !== null;
  };
}
