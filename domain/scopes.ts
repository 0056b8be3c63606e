export const SCOPES = ["repo:read", "repo:write", "user:read", "user:write", "admin:read", "admin:write", "admin:repo_hook"] as const;
export type Scope = (typeof SCOPES)[number];

// A write scope carries its read scope, as GitHub's `repo` carries `repo:status`.
const IMPLIES: Partial<Record<Scope, Scope[]>> = {
  "repo:write": ["repo:read"],
  "user:write": ["user:read"],
  // The queue dashboard's actions (retry, clean, pause, add, remove); reading it stays admin:read.
  "admin:write": ["admin:read"],
};

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.some((g) => g === needed || (isScope(g) && (IMPLIES[g] ?? []).includes(needed)));
}
