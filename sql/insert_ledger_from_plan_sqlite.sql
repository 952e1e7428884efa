INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)
SELECT
    p.business_no, l.leg, p.client_id, p.business_date,
    p.client_id || ':' || CASE WHEN l.leg = 'D' THEN 'PREFUND' ELSE 'CLEARING' END, p.amount_cents
FROM settlement_plan AS p
INNER JOIN records AS r ON p.business_no = r.business_no
CROSS JOIN (SELECT 'D' AS leg UNION ALL SELECT 'C' AS leg) AS l
WHERE p.client_id = :client_id AND p.business_date = :business_date
  AND p.ord BETWEEN :lo AND :hi AND p.outcome = 'SETTLE' AND r.state = 'APPROVED'
ORDER BY p.ord, l.leg DESC
ON CONFLICT (business_no, leg) DO NOTHING
