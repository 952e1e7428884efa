SELECT d.decision_id, d.business_no, d.decision, d.decided_by, d.note, d.decided_at
FROM aml_decisions AS d
INNER JOIN records AS r ON d.business_no = r.business_no
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id
ORDER BY d.business_no, d.decision_id
