-- The ledger entries of a client's records (ledger.csv): those of the files taken in on one day
-- (an archive package) or, when business_date is NULL, of all the client's files (the
-- offboarding handover). The debit and credit entry of each posting, in the order of business
-- number and leg, with the columns and entry ids of the ledger_entries view. Read from the
-- postings (one probe per record) and sorted as postings, then each posting becomes its two
-- entries, C before D: an incremental sort of the pairs only (1M postings: 2.3-3.7 s, against
-- 6.7 s joining the view's two entries per record and sorting them all).
SELECT
    CASE WHEN l.leg = 'D' THEN 2 * t.transfer_id - 1 ELSE 2 * t.transfer_id END AS entry_id,
    t.business_no, l.leg, t.client_id, t.business_date,
    CASE WHEN l.leg = 'D' THEN t.debit_account ELSE t.credit_account END AS account,
    t.amount_cents, t.posted_at
FROM (
    SELECT p.transfer_id, p.business_no, p.client_id, p.business_date, p.debit_account, p.credit_account,
        p.amount_cents, p.posted_at
    FROM ledger_transfers AS p
    INNER JOIN records AS r ON p.business_no = r.business_no
    INNER JOIN files AS f ON r.file_id = f.file_id
    WHERE f.folder = :client_id AND (CAST(:business_date AS TEXT) IS NULL OR f.intake_date = :business_date)
    ORDER BY p.business_no
) AS t
CROSS JOIN (SELECT 'C' AS leg UNION ALL SELECT 'D' AS leg) AS l
ORDER BY t.business_no, l.leg
