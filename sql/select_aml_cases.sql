SELECT c.business_no, c.client_id, c.business_date, c.rule, c.detail, c.status, r.amount_cents
FROM aml_cases AS c
INNER JOIN records AS r ON c.business_no = r.business_no
WHERE (CAST(:business_date AS TEXT) IS NULL OR c.business_date = :business_date)
  AND (CAST(:client_id AS TEXT) IS NULL OR c.client_id = :client_id)
  AND (CAST(:status AS TEXT) IS NULL OR c.status = :status)
ORDER BY c.business_date, c.client_id, c.business_no
