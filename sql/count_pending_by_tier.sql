SELECT tier, COUNT(*) AS n, SUM(amount_cents) AS amount_cents
FROM records
WHERE business_date = :business_date AND client_id = :client_id AND state = 'PENDING_APPROVAL'
GROUP BY tier
ORDER BY tier
