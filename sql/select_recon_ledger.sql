SELECT
    l.account,
    l.leg,
    COUNT(*) AS entries,
    SUM(l.amount_cents) AS cents,
    SUM(CASE WHEN r.state IN ('SETTLED', 'DISBURSED') THEN 0 ELSE 1 END) AS orphans
FROM ledger_entries AS l
LEFT JOIN records AS r ON l.business_no = r.business_no
WHERE l.client_id = :client_id AND l.business_date = :business_date
GROUP BY l.account, l.leg
ORDER BY l.account, l.leg
