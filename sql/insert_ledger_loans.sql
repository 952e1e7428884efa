INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)
SELECT
    r.business_no, l.leg, r.client_id, r.business_date,
    r.client_id || ':' || CASE WHEN l.leg = 'D' THEN 'LOANS' ELSE 'DISBURSEMENT' END, r.amount_cents
FROM files AS f
INNER JOIN records AS r ON f.file_id = r.file_id
CROSS JOIN (SELECT 'D' AS leg UNION ALL SELECT 'C' AS leg) AS l
WHERE f.client_id = :client_id AND f.business_date = :business_date AND f.file_type = 'LOAN'
  AND f.status IN ('VALIDATED', 'COMPLETED')
  AND r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'LOAN'
  AND r.state = 'APPROVED'
ORDER BY r.business_no, l.leg DESC
ON CONFLICT (business_no, leg) DO NOTHING
