INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)
SELECT
    r.business_no, l.leg, r.client_id, r.business_date,
    r.client_id || ':' || CASE WHEN l.leg = 'D' THEN 'PREFUND' ELSE 'CLEARING' END, r.amount_cents
FROM settlement_plan AS p
INNER JOIN records AS r ON p.business_no = r.business_no
CROSS JOIN (SELECT 'D' AS leg UNION ALL SELECT 'C' AS leg) AS l
WHERE p.client_id = :client_id AND p.business_date = :business_date
  AND p.ord BETWEEN :lo AND :hi AND p.outcome = 'SETTLE'
  AND r.state = 'APPROVED' AND r.amount_cents = p.amount_cents
ORDER BY p.ord, l.leg DESC
