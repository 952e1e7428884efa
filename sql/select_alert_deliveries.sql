SELECT channel, action, target, status
FROM alert_deliveries
WHERE dedup_key = :dedup_key
ORDER BY channel, action
