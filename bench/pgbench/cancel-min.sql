-- The least work a cancel of one queued job must do, as one pgbench transaction
-- (bench/lib/pgbench.ts runs it with -M prepared): lock the run and the job, end the job
-- and its steps, count the run's open jobs, record the intent. Nothing of ours is in it:
-- no HTTP, no queue, no decision in JavaScript; the schema's triggers still fire.
-- No colon may appear in the SQL but before a pgbench variable (it would be read as one).
-- Each transaction takes a job no other transaction takes: client c's n-th one takes the
-- seeded job first_job + c + clients * n (n starts at 0 via -D and persists per client).
\set k :client_id + :clients * :n
\set n :n + 1
\set job :first_job + :k
BEGIN;
SELECT r.id AS run FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id WHERE j.id = :job FOR UPDATE \gset
UPDATE workflow_jobs SET status = 'cancelled', conclusion = 'cancelled', completed_at = now(), cancel_requested = true, cancel_requested_at = now(), cancel_requested_by = :user, updated_at = now() WHERE id = :job AND status IN ('queued', 'running');
UPDATE workflow_steps SET status = 'cancelled', conclusion = 'cancelled', completed_at = now() WHERE job_id = :job AND status IN ('queued', 'running');
SELECT count(*) AS open_jobs FROM workflow_jobs WHERE run_id = :run AND status IN ('queued', 'running');
INSERT INTO lifecycle_intents (uid, kind, target_id, actor_user_id, state, result) VALUES ('pgbench-' || CAST(:job AS text), 'cancel_job', :job, :user, 'applied', jsonb_build_object('ok', true, 'body', jsonb_build_object('changed_jobs', 1)));
END;
