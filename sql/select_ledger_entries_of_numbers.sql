-- The ledger entries (ledger.csv) of the postings whose business numbers lie in [lo, hi): the
-- business numbers of one file's records (lo the file's prefix <CLIENT>-<TYPE>-<YYYYMMDD>-<SEQ>-,
-- hi the same with its last '-' made '.'; ledger_transfers.business_no is COLLATE "C", so the
-- range is exactly that prefix on any database collation). The debit and credit entry of each
-- posting, in the order of business number and leg, with the columns and entry ids of the
-- ledger_entries view. An index range of the postings in key order: no join to records and no
-- sort of the package (1M postings: 3.1-4.6 s, against 6.5-6.7 s joining each record to its
-- posting and sorting the pairs).
SELECT
    CASE WHEN l.leg = 'D' THEN 2 * p.transfer_id - 1 ELSE 2 * p.transfer_id END AS entry_id,
    p.business_no, l.leg, p.client_id, p.business_date,
    CASE WHEN l.leg = 'D' THEN p.debit_account ELSE p.credit_account END AS account,
    p.amount_cents, p.posted_at
FROM ledger_transfers AS p
CROSS JOIN (SELECT 'C' AS leg UNION ALL SELECT 'D' AS leg) AS l
WHERE p.business_no >= :lo AND p.business_no < :hi
ORDER BY p.business_no, l.leg
