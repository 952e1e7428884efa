-- Each file of the client's day with its records counted and its accepted amounts summed: the
-- records of the day's files read once, grouped by file (a subquery per file and figure read
-- them four times for a day of two files).
SELECT f.file_id, f.stem, f.record_count, f.amount_total_cents,
       COALESCE(x.records, 0) AS records, COALESCE(x.accepted_cents, 0) AS accepted_cents
FROM files AS f
LEFT JOIN (
    SELECT r.file_id, COUNT(*) AS records,
           SUM(CASE WHEN r.ack_status = 'ACCEPTED' THEN r.amount_cents END) AS accepted_cents
    FROM records AS r
    WHERE r.file_id IN (
        SELECT g.file_id FROM files AS g
        WHERE g.client_id = :client_id AND g.business_date = :business_date
          AND g.status IN ('VALIDATED', 'COMPLETED')
    )
    GROUP BY r.file_id
) AS x ON x.file_id = f.file_id
WHERE f.client_id = :client_id AND f.business_date = :business_date
  AND f.status IN ('VALIDATED', 'COMPLETED')
ORDER BY f.stem
