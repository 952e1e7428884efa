-- Every ledger entry of the client's records (offboarding handover): as
-- select_ledger_of_package.sql, for all the client's files.
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
    WHERE f.folder = :client_id
    ORDER BY p.business_no
) AS t
CROSS JOIN (SELECT 'C' AS leg UNION ALL SELECT 'D' AS leg) AS l
ORDER BY t.business_no, l.leg
