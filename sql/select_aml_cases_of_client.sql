SELECT c.business_no, c.client_id, c.business_date, c.rule, c.detail, c.status, c.opened_at, c.closed_at
FROM aml_cases AS c
INNER JOIN records AS r ON c.business_no = r.business_no
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id
ORDER BY c.business_date, c.business_no
