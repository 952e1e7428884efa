-- The clients with records of the day not through approval yet: still VALIDATED (not routed) or
-- PENDING_APPROVAL (waiting for a person), in files that count (validated or completed). One scan
-- of the day's records for both states (approval.held_clients).
SELECT DISTINCT r.client_id
FROM records AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE r.business_date = :business_date AND r.state IN ('VALIDATED', 'PENDING_APPROVAL')
  AND f.status IN ('VALIDATED', 'COMPLETED')
ORDER BY r.client_id
