-- GitHub's run lists (docs/github-api.md, "Lists"): a GitHub run is a rerun chain, listed
-- by its original run, newest first. A partial index of the originals alone, so a page and
-- its total_count read only them (an index-only scan once vacuumed), never the reruns.
-- Prisma's schema cannot declare a partial index: prisma/checks.sql carries it too.
CREATE INDEX "workflow_runs_originals_idx" ON "workflow_runs"("repo_id", "created_at", "id") WHERE "original_run_id" IS NULL;
