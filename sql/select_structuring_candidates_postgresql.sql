-- Payments of the window just below a large-value threshold, by payer; is_open marks the
-- day's approved payments never screened (those a structuring hold may take). The payer's id
-- type and number are the record's columns (V016); rows written before them read the payload's.
SELECT business_no, business_date, state, payer_id_type, payer_id_no, is_open
FROM (
    SELECT
        r.business_no, r.business_date, r.state, r.amount_cents,
        CASE
            WHEN r.business_date = :business_date AND r.state = 'APPROVED'
                AND NOT EXISTS (SELECT 1 FROM aml_cases AS c WHERE c.business_no = r.business_no)
                THEN 1
            ELSE 0
        END AS is_open,
        COALESCE(r.payer_id_type, CAST(r.payload AS json) ->> 'payer_id_type') AS payer_id_type,
        COALESCE(r.payer_id_no, CAST(r.payload AS json) ->> 'payer_id_no') AS payer_id_no
    FROM records AS r
    WHERE r.client_id = :client_id AND r.business_date BETWEEN :from_date AND :business_date
      AND r.file_type = 'PAY' AND r.ack_status = 'ACCEPTED'
      AND ((r.amount_cents >= :natural_low AND r.amount_cents < :natural_min)
          OR (r.amount_cents >= :entity_low AND r.amount_cents < :entity_min))
) AS x
WHERE (payer_id_type = 'RIC' AND amount_cents >= :natural_low AND amount_cents < :natural_min)
   OR (payer_id_type = 'USCC' AND amount_cents >= :entity_low AND amount_cents < :entity_min)
ORDER BY payer_id_type, payer_id_no, business_date, business_no
