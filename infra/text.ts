import type { z } from "zod";

// Postgres text cannot hold U+0000: a string that carries one would make the database
// refuse the statement (a 500, or an intent failed inside the worker). Every string that
// reaches SQL is therefore refused with a 400 naming its field, before anything runs.

export const NUL_MESSAGE = "must not contain NUL characters";

export const hasNoNul = (s: string): boolean => !s.includes("\u0000");

/** The one refinement for string fields that reach SQL: `sqlText(z.string().max(500))`. */
export function sqlText<T extends z.ZodType<string>>(schema: T): T {
  return schema.refine(hasNoNul, NUL_MESSAGE) as T;
}

/**
 * Log text is for people to read, so it is stored rather than refused: an unpaired
 * surrogate (which UTF-8 cannot encode; the driver would turn it into U+FFFD on the way)
 * and a NUL (which Postgres text cannot hold) both become U+FFFD. Applied before a chunk
 * is stored and before it is compared with a stored one, so a retry compares equal.
 */
export function logText(s: string): string {
  return (s as unknown as { toWellFormed(): string }).toWellFormed().replaceAll("\u0000", "\uFFFD");
}
