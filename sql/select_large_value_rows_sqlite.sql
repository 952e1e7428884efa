-- The large-value report's rows: every settled payment of a reported payer (aml_large_value of
-- the client and day), with its payer's total. Ordered on payer id type, payer id and business
-- number (BINARY collation: code point order).
SELECT
    lv.payer_id_type, lv.payer_id_no, lv.total_cents, x.business_no, x.client_ref,
    x.value_date, x.payer_name, x.payee_name, x.payee_account, x.payee_bank_code,
    x.amount_cents, x.currency
FROM (
    SELECT
        r.business_no, r.client_ref, r.amount_cents, r.currency,
        json_extract(r.payload, '$.payer_id_type') AS payer_id_type,
        json_extract(r.payload, '$.payer_id_no') AS payer_id_no,
        json_extract(r.payload, '$.value_date') AS value_date,
        json_extract(r.payload, '$.payer_name') AS payer_name,
        json_extract(r.payload, '$.payee_name') AS payee_name,
        json_extract(r.payload, '$.payee_account') AS payee_account,
        json_extract(r.payload, '$.payee_bank_code') AS payee_bank_code
    FROM records AS r
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'SETTLED'
) AS x
INNER JOIN aml_large_value AS lv
    ON lv.client_id = :client_id AND lv.business_date = :business_date
        AND x.payer_id_type = lv.payer_id_type AND x.payer_id_no = lv.payer_id_no
ORDER BY lv.payer_id_type, lv.payer_id_no, x.business_no
