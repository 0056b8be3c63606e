// Path ids are positive decimal integers below 2^53; anything else is an unknown id.
const ID = /^[1-9][0-9]{0,15}$/;

export function parseId(raw: unknown): bigint | null {
  if (typeof raw !== "string" || !ID.test(raw)) return null;
  const n = BigInt(raw);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? n : null;
}

/** BigInt ids leave the service as JSON numbers (they stay below 2^53). */
export function num(id: bigint): number;
export function num(id: bigint | null): number | null;
export function num(id: bigint | null): number | null {
  return id === null ? null : Number(id);
}
