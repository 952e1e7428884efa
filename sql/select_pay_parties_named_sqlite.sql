-- The client's open payments of the day whose payer or payee is one of the given names (a JSON array).
SELECT
    r.business_no, json_extract(r.payload, '$.payer_name') AS payer_name,
    json_extract(r.payload, '$.payee_name') AS payee_name
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'APPROVED'
  AND (json_extract(r.payload, '$.payer_name') IN (SELECT value FROM json_each(:names))
      OR json_extract(r.payload, '$.payee_name') IN (SELECT value FROM json_each(:names)))
  AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
ORDER BY r.business_no
