-- The client's day in the ledger per account and side: entries, amount, and entries whose record
-- is not SETTLED or DISBURSED (or does not exist): orphans. One pass over the day's postings
-- (ledger_transfers: each posting is a debit entry and a credit entry of the same amount).
WITH p AS (
    SELECT
        t.debit_account,
        t.credit_account,
        COUNT(*) AS entries,
        SUM(t.amount_cents) AS cents,
        SUM(CASE WHEN r.state IN ('SETTLED', 'DISBURSED') THEN 0 ELSE 1 END) AS orphans
    FROM ledger_transfers AS t
    LEFT JOIN records AS r ON t.business_no = r.business_no
    WHERE t.client_id = :client_id AND t.business_date = :business_date
    GROUP BY t.debit_account, t.credit_account
)

SELECT s.account, s.leg, SUM(s.entries) AS entries, SUM(s.cents) AS cents, SUM(s.orphans) AS orphans
FROM (
    SELECT p.debit_account AS account, 'D' AS leg, p.entries, p.cents, p.orphans FROM p
    UNION ALL
    SELECT p.credit_account AS account, 'C' AS leg, p.entries, p.cents, p.orphans FROM p
) AS s
GROUP BY s.account, s.leg
ORDER BY s.account, s.leg
