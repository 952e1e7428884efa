-- The clearing file's rows: a client's settled payments of the day in business number order,
-- the payload parsed once per row.
SELECT
    r.business_no, r.client_ref, p.value_date, p.payer_account, p.payer_name,
    p.payee_account_type, p.payee_account, p.payee_name, p.payee_bank_code, r.amount_cents,
    COALESCE(NULLIF(r.currency, ''), p.currency) AS currency
FROM records AS r
CROSS JOIN LATERAL json_to_record(CAST(r.payload AS json)) AS p (
    value_date text, payer_account text, payer_name text, payee_account_type text,
    payee_account text, payee_name text, payee_bank_code text, currency text
)
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'SETTLED'
ORDER BY r.business_no
