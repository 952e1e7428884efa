-- Business days, version 18: the intake run of a date now records it OPEN (intake.open_day), so
-- that the days the platform ran are known (a file waiting for a past day can be told apart:
-- one it ran, whose reruns may take it, or one it never ran, which needs a backfill). Days
-- already run before this version are recorded OPEN here, from the files their intake runs
-- registered, unless they are closed.
INSERT INTO business_days (business_date, status)
SELECT DISTINCT f.intake_date, 'OPEN'
FROM files AS f
WHERE f.intake_date IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM business_days AS d WHERE d.business_date = f.intake_date);
