SELECT client_id, business_date, payer_id_type, payer_id_no, payments, total_cents
FROM aml_large_value
WHERE client_id = :client_id
ORDER BY business_date, payer_id_type, payer_id_no
