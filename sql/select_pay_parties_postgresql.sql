SELECT
    r.business_no, r.amount_cents, CAST(r.payload AS json) ->> 'payer_name' AS payer_name,
    CAST(r.payload AS json) ->> 'payer_id_type' AS payer_id_type, CAST(r.payload AS json) ->> 'payer_id_no' AS payer_id_no,
    CAST(r.payload AS json) ->> 'payee_name' AS payee_name
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'APPROVED'
  AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
ORDER BY r.business_no
