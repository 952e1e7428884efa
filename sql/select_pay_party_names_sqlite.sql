-- The distinct payer and payee names of the client's open payments of the day (approved, never
-- screened): each name is matched against the sanctions list once.
SELECT x.name
FROM (
    SELECT json_extract(r.payload, '$.payer_name') AS name
    FROM records AS r
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'APPROVED'
      AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
    UNION
    SELECT json_extract(r.payload, '$.payee_name') AS name
    FROM records AS r
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'APPROVED'
      AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
) AS x
WHERE x.name <> ''
