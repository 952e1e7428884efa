-- The large-value report's rows: every settled payment of a payer whose payments of the day
-- reach the threshold of the payer's id type, with the payer's total (a window over the payer).
-- This is the only statement that reads the day: the payers recorded in aml_large_value are
-- summed from these rows as they stream (aml.py). Ordered on payer id type, payer id and
-- business number (BINARY collation: code point order), the window's own order.
SELECT
    y.payer_id_type, y.payer_id_no, y.total_cents, y.business_no, y.client_ref, y.value_date,
    y.payer_name, y.payee_name, y.payee_account, y.payee_bank_code, y.amount_cents, y.currency
FROM (
    SELECT
        x.*,
        SUM(x.amount_cents) OVER (
            PARTITION BY x.payer_id_type, x.payer_id_no
            ORDER BY x.business_no
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS total_cents
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
        WHERE r.client_id = :client_id AND r.business_date = :business_date
          AND r.file_type = 'PAY' AND r.state = 'SETTLED'
    ) AS x
) AS y
WHERE y.total_cents >= CASE WHEN y.payer_id_type = 'RIC' THEN :natural_min ELSE :entity_min END
ORDER BY y.payer_id_type, y.payer_id_no, y.business_no
