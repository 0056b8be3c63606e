-- A repository's runs, newest first (created_at desc, id desc), one page at a time by a
-- keyset cursor (docs/api.md, "Lists"): each index starts with what a page fixes by
-- equality and ends with the order, so a page is one index range read backwards, never a
-- sort over the repository's runs, and costs the same at 1M runs as at 1k.

-- CreateIndex: the unfiltered list, and filters other than status and head_sha.
CREATE INDEX "workflow_runs_repo_id_created_at_id_idx" ON "workflow_runs"("repo_id", "created_at", "id");

-- CreateIndex: `status=queued|running` are the few among many completed runs.
CREATE INDEX "workflow_runs_repo_id_status_created_at_id_idx" ON "workflow_runs"("repo_id", "status", "created_at", "id");

-- CreateIndex: `head_sha` names a handful of runs among all of them.
CREATE INDEX "workflow_runs_repo_id_head_sha_created_at_id_idx" ON "workflow_runs"("repo_id", "head_sha", "created_at", "id");
