-- The large-value report's rows: every settled payment of a payer whose payments of the day
-- reach the threshold of the payer's id type, with the payer's total (a window over the payer).
-- The payload is parsed once per row, and this is the only statement that reads the day: the
-- payers recorded in aml_large_value are summed from these rows as they stream (aml.py). Ordered
-- on the code points of payer id type, payer id and business number (COLLATE "C"): the window
-- sorts on the same three keys, so the day is sorted once and the rows come out in order.
SELECT
    y.payer_id_type, y.payer_id_no, y.total_cents, y.business_no, y.client_ref, y.value_date,
    y.payer_name, y.payee_name, y.payee_account, y.payee_bank_code, y.amount_cents, y.currency
FROM (
    SELECT
        x.*,
        CAST(SUM(x.amount_cents) OVER (
            PARTITION BY x.payer_id_type COLLATE "C", x.payer_id_no COLLATE "C"
            ORDER BY x.business_no COLLATE "C"
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS BIGINT) AS total_cents
    FROM (
        SELECT
            r.business_no, r.client_ref, r.amount_cents, r.currency, p.payer_id_type,
            p.payer_id_no, p.value_date, p.payer_name, p.payee_name, p.payee_account,
            p.payee_bank_code
        FROM records AS r
        CROSS JOIN LATERAL json_to_record(CAST(r.payload AS json)) AS p (
            payer_id_type text, payer_id_no text, value_date text, payer_name text,
            payee_name text, payee_account text, payee_bank_code text
        )
        WHERE r.client_id = :client_id AND r.business_date = :business_date
          AND r.file_type = 'PAY' AND r.state = 'SETTLED'
    ) AS x
) AS y
WHERE y.total_cents >= CASE WHEN y.payer_id_type = 'RIC' THEN :natural_min ELSE :entity_min END
ORDER BY y.payer_id_type COLLATE "C", y.payer_id_no COLLATE "C", y.business_no COLLATE "C"
