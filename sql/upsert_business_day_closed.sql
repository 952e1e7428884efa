-- Close a business day (opened by its intake run, or not recorded yet): the first close stamps
-- closed_at, a repeated close keeps it.
INSERT INTO business_days (business_date, status, closed_at)
VALUES (:business_date, 'CLOSED', CURRENT_TIMESTAMP)
ON CONFLICT (business_date) DO UPDATE
SET status = 'CLOSED', closed_at = COALESCE(business_days.closed_at, excluded.closed_at)
