-- The claim's candidates (domain/data/claim.ts pickJobSql): queued jobs by label set, so a
-- runner's claim costs what the jobs its labels can take cost, whatever backlog of jobs no
-- runner of those labels serves (docs/scaling.md, "Runner long-polling"). fastupdate off:
-- every claim reads this index, and a pending list would be scanned by each of them.
CREATE INDEX "workflow_jobs_queued_labels_idx" ON "workflow_jobs" USING gin (string_to_array("runs_on", ',')) WITH (fastupdate = off) WHERE "status" = 'queued' AND NOT "cancel_requested";
