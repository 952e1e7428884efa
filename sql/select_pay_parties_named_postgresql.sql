-- The client's open payments of the day whose payer or payee is one of the given names (a JSON array).
SELECT r.business_no, j.payer_name, j.payee_name
FROM records AS r
CROSS JOIN LATERAL json_to_record(CAST(r.payload AS json)) AS j (payer_name text, payee_name text)
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'APPROVED'
  AND (j.payer_name IN (SELECT json_array_elements_text(CAST(:names AS json)))
      OR j.payee_name IN (SELECT json_array_elements_text(CAST(:names AS json))))
  AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
ORDER BY r.business_no
