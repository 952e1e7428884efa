-- Open alerts (their trigger may still be due) and cleared alerts whose resolve is still due
-- on some channel their trigger reached.
SELECT a.dedup_key, a.at, a.kind, a.severity, a.client_id, a.business_date, a.message,
    a.stage, a.details, a.run_url, a.resolved_at
FROM alert_events AS a
WHERE a.resolved_at IS NULL
    OR EXISTS (
        SELECT 1 FROM alert_deliveries AS t
        WHERE t.dedup_key = a.dedup_key AND t.action = 'trigger' AND t.status = 'SENT'
            AND NOT EXISTS (
                SELECT 1 FROM alert_deliveries AS r
                WHERE r.dedup_key = t.dedup_key AND r.channel = t.channel AND r.action = 'resolve'
            )
    )
ORDER BY a.alert_id
