-- SQLite: the next chunk of the client's approved payments in settlement order (group rank, then
-- line), at most "size" of them, each marked to settle (line up to its group's "upto") or not.
-- The groups parameter is the plan, one JSON object per (value date, file): file_id, value_date, rank, upto.
WITH g AS (
    SELECT
        json_extract(j.value, '$.file_id') AS file_id,
        COALESCE(json_extract(j.value, '$.value_date'), '') AS value_date,
        json_extract(j.value, '$.rank') AS rank_no,
        json_extract(j.value, '$.upto') AS upto
    FROM json_each(:groups) AS j
)

INSERT INTO temp.settlement_chunk (business_no, client_id, business_date, amount_cents, file_id, line_no, settle)
SELECT r.business_no, r.client_id, r.business_date, r.amount_cents, r.file_id, r.line_no, r.line_no <= g.upto
FROM records AS r
INNER JOIN g ON r.file_id = g.file_id AND COALESCE(r.value_date, '') = g.value_date
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'APPROVED'
ORDER BY g.rank_no, r.line_no
LIMIT :size
