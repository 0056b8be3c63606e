import { Router, type Request, type Response } from "express";
import { z } from "zod";
import type { Target } from "../../domain/data/access.ts";
import { authenticate, requireScope } from "../auth.ts";
import { HttpError } from "../errors.ts";
import { repoContext } from "./context.ts";
import type { GitHubDeps } from "./index.ts";

// What GitHub's CLI asks for beyond the Actions REST routes (docs/github-api.md, "gh"):
// `POST /api/graphql`, where gh's run commands send one query. It is answered by a
// hand-written resolver keyed on the operation, not a GraphQL engine: any other document
// is refused with a GraphQL error, so a client never reads an answer to a question it did
// not ask.

export const GRAPHQL_PATH = "/api/graphql";

const body = z.object({ query: z.string(), variables: z.record(z.string(), z.unknown()).nullish() });

/** A GraphQL error as GitHub sends them: HTTP 200, `errors` beside whatever `data` there is. */
interface GraphQLError {
  message: string;
  type?: string;
  path?: string[];
}

interface Answer {
  data?: Record<string, unknown>;
  errors?: GraphQLError[];
}

interface Operation {
  /** The document's selections, whitespace collapsed: only these are answered. */
  shape: RegExp;
  variables: z.ZodType<{ owner: string; repo: string }>;
  resolve(req: Request, res: Response, deps: GitHubDeps): Promise<Answer>;
}

const repoVariables = z.object({ owner: z.string(), repo: z.string(), headRefName: z.string() });

const OPERATIONS: Record<string, Operation> = {
  // `gh run view` looks for the pull request of the run's branch to show its number. No
  // pull requests exist here, so the truthful answer is none (gh then shows no number).
  PullRequestForRun: {
    shape: /^query PullRequestForRun\(.*\) \{ repository\(owner: \$owner, name: \$repo\) \{ pullRequests\(headRefName: \$headRefName, first: 1, orderBy: \{ field: CREATED_AT, direction: DESC \}\) \{ nodes \{ number headRepository \{ owner \{ login \} name \} \} \} \} \}$/,
    variables: repoVariables,
    async resolve(req, res, deps) {
      const found = await repositoryOf(req, res, deps);
      if (!found) return notFoundRepo(req);
      return { data: { repository: { pullRequests: { nodes: [] } } } };
    },
  },
};

const normalize = (q: string) => q.replace(/\s+/g, " ").trim();
const operationName = (q: string) => /^query\s+(\w+)/.exec(q)?.[1];

/** The repository the variables name, judged in the token's statement as every /api/v3 route's is. */
async function repositoryOf(req: Request, res: Response, deps: GitHubDeps): Promise<boolean> {
  try {
    await repoContext(deps.sql, req, res, deps.publicUrl);
    return true;
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return false;
    throw e;
  }
}

function notFoundRepo(req: Request): Answer {
  const v = variablesOf(req);
  return {
    data: { repository: null },
    errors: [{ type: "NOT_FOUND", path: ["repository"], message: `Could not resolve to a Repository with the name '${v.owner}/${v.repo}'.` }],
  };
}

function variablesOf(req: Request): Record<string, unknown> {
  const parsed = body.safeParse(req.body);
  return parsed.success ? parsed.data.variables ?? {} : {};
}

/** The repository a known operation's variables name, for the token lookup to judge with the token. */
function graphqlTarget(req: Request): Target | null {
  const v = variablesOf(req);
  return typeof v.owner === "string" && typeof v.repo === "string" ? { kind: "repoName", owner: v.owner, name: v.repo } : null;
}

/** The operation a document is, or the GraphQL error refusing it. */
function operationOf(req: Request): { op: Operation } | { error: string } {
  const parsed = body.safeParse(req.body);
  if (!parsed.success) return { error: "A query attribute must be specified and must be a string." };
  const query = normalize(parsed.data.query);
  const name = operationName(query);
  const op = name === undefined ? undefined : OPERATIONS[name];
  if (!op || !op.shape.test(query)) {
    return { error: `This service answers only the GraphQL queries gh's run commands send (${Object.keys(OPERATIONS).join(", ")}), exactly as gh sends them` };
  }
  if (!op.variables.safeParse(parsed.data.variables ?? {}).success) return { error: `Variables of ${name} are missing or not strings` };
  return { op };
}

export function ghRoutes(deps: GitHubDeps): Router {
  const r = Router();
  r.post(GRAPHQL_PATH, authenticate(deps, graphqlTarget), requireScope("repo:read"), async (req, res) => {
    const found = operationOf(req);
    if ("error" in found) {
      res.json({ errors: [{ message: found.error }] } satisfies Answer);
      return;
    }
    res.json(await found.op.resolve(req, res, deps));
  });
  return r;
}
