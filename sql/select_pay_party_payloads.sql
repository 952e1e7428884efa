-- The payloads of the client's open payments of the day (approved, never screened), for the
-- sanctions screening: the payer and payee names are read from them in the worker (aml._parties).
SELECT r.business_no, r.payload
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'APPROVED'
  AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
