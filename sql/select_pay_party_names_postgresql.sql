-- The distinct payer and payee names of the client's open payments of the day (approved, never
-- screened): each name is matched against the sanctions list once.
SELECT DISTINCT x.name
FROM (
    SELECT j.payer_name, j.payee_name
    FROM records AS r
    CROSS JOIN LATERAL json_to_record(CAST(r.payload AS json)) AS j (payer_name text, payee_name text)
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'APPROVED'
      AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
) AS p
CROSS JOIN LATERAL (VALUES (p.payer_name), (p.payee_name)) AS x (name)
WHERE x.name <> ''
