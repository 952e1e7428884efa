SELECT DISTINCT a.decided_by
FROM approvals AS a
INNER JOIN records AS r ON a.business_no = r.business_no
WHERE r.file_id = :file_id
