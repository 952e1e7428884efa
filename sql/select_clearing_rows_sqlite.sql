-- The clearing file's rows: a client's settled payments of the day in business number order.
SELECT
    r.business_no, r.client_ref,
    json_extract(r.payload, '$.value_date') AS value_date,
    json_extract(r.payload, '$.payer_account') AS payer_account,
    json_extract(r.payload, '$.payer_name') AS payer_name,
    json_extract(r.payload, '$.payee_account_type') AS payee_account_type,
    json_extract(r.payload, '$.payee_account') AS payee_account,
    json_extract(r.payload, '$.payee_name') AS payee_name,
    json_extract(r.payload, '$.payee_bank_code') AS payee_bank_code,
    r.amount_cents,
    COALESCE(NULLIF(r.currency, ''), json_extract(r.payload, '$.currency')) AS currency
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'SETTLED'
ORDER BY r.business_no
