SELECT c.business_no, c.client_id, c.business_date, c.rule, c.detail, c.status, r.amount_cents,
       r.state
FROM aml_cases AS c
INNER JOIN records AS r ON c.business_no = r.business_no
WHERE c.business_no = :business_no
