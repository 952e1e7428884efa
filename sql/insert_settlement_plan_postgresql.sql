-- The plan order is (value date, file sequence, file id, line). Sorting a day's payments on those
-- four keys compares two texts on most pairs; instead the few (value date, file) groups are
-- ranked first, and the payments are sorted on one bigint: group rank * 2^32 + line number
-- (line_no is an INTEGER), which gives the same order.
-- The value date is the records column (V013); rows written before it read the payload's.
-- record_tid keeps where each record was read (its ctid), so applying the plan can go to the
-- record's row directly instead of joining the plan to the day's records again; applying checks
-- the business number and state it finds there, and falls back to the join when a row moved.
WITH d AS MATERIALIZED (
    SELECT
        r.ctid AS record_tid, r.business_no, r.amount_cents, r.file_id, r.line_no,
        COALESCE(r.value_date, CAST(r.payload AS json) ->> 'value_date') COLLATE "C" AS value_date
    FROM records AS r
    WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'APPROVED'
),

g AS (
    SELECT
        k.value_date, k.file_id,
        ROW_NUMBER() OVER (ORDER BY k.value_date, f.seq COLLATE "C", k.file_id) AS rank_no
    FROM (SELECT d.value_date, d.file_id FROM d GROUP BY d.value_date, d.file_id) AS k
    INNER JOIN files AS f ON k.file_id = f.file_id
    WHERE f.status IN ('VALIDATED', 'COMPLETED')
),

planned AS (
    INSERT INTO settlement_plan (
        business_no, client_id, business_date, ord, value_date, amount_cents, running_cents, outcome,
        record_tid
    )
    SELECT
        x.business_no, :client_id, :business_date, :base_ord + x.rn, x.value_date, x.amount_cents,
        x.running_cents,
        CASE WHEN :used_cents + x.running_cents <= :limit_cents THEN 'SETTLE' ELSE 'FUNDS' END,
        x.record_tid
    FROM (
        SELECT
            d.record_tid, d.business_no, d.amount_cents, d.value_date,
            ROW_NUMBER() OVER w AS rn,
            SUM(d.amount_cents) OVER w AS running_cents
        FROM d
        INNER JOIN g ON d.file_id = g.file_id AND COALESCE(d.value_date, '') = COALESCE(g.value_date, '')
        WINDOW w AS (
            ORDER BY g.rank_no * 4294967296 + d.line_no
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )
    ) AS x
)

-- The number of plan rows (the payments of files that are still validated: those joined to g),
-- and the fingerprint of the approved payments this statement read (as
-- select_open_payments_fingerprint.sql computes it): settlement compares it with the one the
-- client's last AML screening recorded, and has the day screened again if it changed since. (The
-- INSERT runs to completion though nothing reads it: a data-modifying WITH always does.)
SELECT
    COUNT(*) FILTER (WHERE d.file_id IN (SELECT g.file_id FROM g)) AS planned,
    COUNT(*) AS payments,
    COALESCE(SUM(d.amount_cents % 2147483647), 0) AS amount_sum,
    COALESCE(SUM(d.file_id), 0) AS file_sum,
    COALESCE(SUM(d.line_no), 0) AS line_sum
FROM d
