INSERT INTO settlement_plan (
    business_no, client_id, business_date, ord, value_date, amount_cents, running_cents, outcome
)
SELECT
    x.business_no, x.client_id, x.business_date, :base_ord + x.rn, x.value_date, x.amount_cents,
    x.running_cents,
    CASE WHEN :used_cents + x.running_cents <= :limit_cents THEN 'SETTLE' ELSE 'FUNDS' END
FROM (
    SELECT
        r.business_no, r.client_id, r.business_date, r.amount_cents, COALESCE(r.value_date, json_extract(r.payload, '$.value_date')) AS value_date,
        ROW_NUMBER() OVER w AS rn,
        SUM(r.amount_cents) OVER w AS running_cents
    FROM records AS r
    INNER JOIN files AS f ON r.file_id = f.file_id
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'APPROVED' AND f.status IN ('VALIDATED', 'COMPLETED')
    WINDOW w AS (
        ORDER BY COALESCE(r.value_date, json_extract(r.payload, '$.value_date')), f.seq, r.file_id, r.line_no
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
) AS x
