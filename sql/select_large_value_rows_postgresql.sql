-- The large-value report's rows: every settled payment of a reported payer (aml_large_value of
-- the client and day), with its payer's total; the payload is parsed once per row. Ordered on
-- the code points of payer id type, payer id and business number (COLLATE "C").
SELECT
    lv.payer_id_type, lv.payer_id_no, lv.total_cents, x.business_no, x.client_ref,
    x.value_date, x.payer_name, x.payee_name, x.payee_account, x.payee_bank_code,
    x.amount_cents, x.currency
FROM (
    SELECT
        r.business_no, r.client_ref, r.amount_cents, r.currency, p.payer_id_type, p.payer_id_no,
        p.value_date, p.payer_name, p.payee_name, p.payee_account, p.payee_bank_code
    FROM records AS r
    CROSS JOIN LATERAL json_to_record(CAST(r.payload AS json)) AS p (
        payer_id_type text, payer_id_no text, value_date text, payer_name text, payee_name text,
        payee_account text, payee_bank_code text
    )
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'SETTLED'
) AS x
INNER JOIN aml_large_value AS lv
    ON lv.client_id = :client_id AND lv.business_date = :business_date
        AND x.payer_id_type = lv.payer_id_type AND x.payer_id_no = lv.payer_id_no
ORDER BY lv.payer_id_type COLLATE "C", lv.payer_id_no COLLATE "C", x.business_no COLLATE "C"
