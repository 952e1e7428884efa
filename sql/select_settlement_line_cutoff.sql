-- In the group where the prefunded balance runs out (one file's approved payments of one value
-- date), the last line that still settles: running totals in line order, against the room left
-- by the groups before it. Running totals only grow, so the lines that fit are the first ones.
-- Lines from before_line on (an earlier run returned that line H_FUNDS) do not settle. 0: none.
SELECT COALESCE(MAX(x.line_no), 0)
FROM (
    SELECT
        r.line_no,
        SUM(r.amount_cents) OVER (ORDER BY r.line_no ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
    FROM records AS r
    WHERE r.file_id = :file_id AND r.client_id = :client_id AND r.business_date = :business_date
      AND r.file_type = 'PAY' AND r.state = 'APPROVED' AND COALESCE(r.value_date, '') = :value_date
      AND r.line_no < :before_line
) AS x
WHERE x.running <= :room
