-- Business days, version 18: the intake run of a date now records it OPEN (intake.open_day), so
-- that a file dated on a past business day the platform never opened (before it started, or a
-- day whose run never happened) is answered F_DATE instead of waiting for a run that will not
-- come. Days already run before this version are recorded OPEN here, from the files their
-- intake runs registered, unless they are closed: a late file for such a day still waits for
-- that day's own runs, as before.
INSERT INTO business_days (business_date, status)
SELECT DISTINCT f.intake_date, 'OPEN'
FROM files AS f
WHERE f.intake_date IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM business_days AS d WHERE d.business_date = f.intake_date);
