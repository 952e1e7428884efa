INSERT INTO aml_large_value (client_id, business_date, payer_id_type, payer_id_no, payments, total_cents)
SELECT :client_id, :business_date, payer_id_type, payer_id_no, COUNT(*) AS payments, SUM(amount_cents) AS total_cents
FROM (
    SELECT r.amount_cents, json_extract(r.payload, '$.payer_id_type') AS payer_id_type, json_extract(r.payload, '$.payer_id_no') AS payer_id_no
    FROM records AS r
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'SETTLED'
) AS x
GROUP BY payer_id_type, payer_id_no
HAVING SUM(amount_cents) >= CASE WHEN payer_id_type = 'RIC' THEN :natural_min ELSE :entity_min END
