export const SCOPES = ["repo:read", "repo:write", "user:read", "user:write", "admin:read"] as const;
export type Scope = (typeof SCOPES)[number];

// A write scope carries its read scope, as GitHub's `repo` carries `repo:status`.
const IMPLIES: Partial<Record<Scope, Scope[]>> = {
  "repo:write": ["repo:read"],
  "user:write": ["user:read"],
};

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.some((g) => g === needed || (isScope(g) && (IMPLIES[g] ?? []).includes(needed)));
}
