SELECT f.file_id, f.stem, f.record_count, f.amount_total_cents,
       (SELECT COUNT(*) FROM records AS r WHERE r.file_id = f.file_id) AS records,
       (SELECT COALESCE(SUM(r.amount_cents), 0) FROM records AS r
        WHERE r.file_id = f.file_id AND r.ack_status = 'ACCEPTED') AS accepted_cents
FROM files AS f
WHERE f.client_id = :client_id AND f.business_date = :business_date
  AND f.status IN ('VALIDATED', 'COMPLETED')
ORDER BY f.stem
