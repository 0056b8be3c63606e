-- Runner names are one namespace regardless of case: "Sim-1" and "sim-1" are one runner
-- (docs/security.md, "Runners"). Names stored before this migration that differ only in
-- case keep the oldest runner's spelling; each later one gets "-<id>" appended so the
-- index can be built (its tokens, jobs and history stay with it).
UPDATE "runners" r SET "name" = r."name" || '-' || r."id"::text
WHERE EXISTS (SELECT 1 FROM "runners" o WHERE lower(o."name") = lower(r."name") AND o."id" < r."id");

-- CreateIndex
CREATE UNIQUE INDEX "runners_name_lower_key" ON "runners" (lower("name"));
