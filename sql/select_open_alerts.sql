SELECT dedup_key, kind, severity, client_id, business_date, details
FROM alert_events
WHERE resolved_at IS NULL
ORDER BY alert_id
