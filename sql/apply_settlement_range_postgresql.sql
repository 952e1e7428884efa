-- Apply the plan to the client's approved payments whose records sit in the rows
-- tid_lo <= ctid < tid_hi (a range of records pages: chunks applied at once by several
-- connections touch disjoint pages). The transaction runs in the plan's snapshot (SET TRANSACTION
-- SNAPSHOT): it sees the payments the plan saw and only those; a record changed by anyone else
-- since fails it with a serialization error, and the day is planned again.
-- The groups parameter is the plan, one JSON object per (value date, file) that settles or returns now: the
-- payments of the group up to line "upto" settle, the later ones return H_FUNDS. The ctid range
-- makes it a TID range scan of exactly those pages, each read, updated and written once; the
-- groups are a small hash table.
-- The postings are made from the rows the UPDATE returns: a posting exists exactly for each
-- record this statement settled. The final row also gives the fingerprint of what it moved.
WITH g AS (
    SELECT x.file_id, COALESCE(x.value_date, '') AS value_date, x.upto
    FROM json_to_recordset(CAST(:groups AS json)) AS x (file_id bigint, value_date text, upto integer)
),

done AS (
    UPDATE records AS r
    SET
        state = CASE WHEN r.line_no <= g.upto THEN 'SETTLED' ELSE 'RETURNED' END,
        final_code = CASE WHEN r.line_no <= g.upto THEN NULL ELSE 'H_FUNDS' END,
        final_date = :business_date
    FROM g
    WHERE r.ctid >= CAST(:tid_lo AS tid) AND r.ctid < CAST(:tid_hi AS tid)
      AND r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
      AND r.state = 'APPROVED' AND r.file_id = g.file_id AND COALESCE(r.value_date, '') = g.value_date
    RETURNING r.business_no, r.client_id, r.business_date, r.amount_cents, r.file_id, r.line_no,
        r.line_no <= g.upto AS settle
),

posted AS (
    INSERT INTO ledger_transfers (
        business_no, client_id, business_date, debit_account, credit_account, amount_cents
    )
    SELECT
        d.business_no, d.client_id, d.business_date, d.client_id || ':' || 'PREFUND', d.client_id || ':' || 'CLEARING',
        d.amount_cents
    FROM done AS d
    WHERE d.settle
    RETURNING 1
)

SELECT
    COUNT(*) FILTER (WHERE d.settle) AS settled,
    COUNT(*) FILTER (WHERE NOT d.settle) AS returned,
    COALESCE(SUM(d.amount_cents) FILTER (WHERE NOT d.settle), 0) AS returned_cents,
    (SELECT COUNT(*) FROM posted) AS postings
FROM done AS d
