UPDATE alert_events SET resolved_at = CURRENT_TIMESTAMP, resolved_by = :resolved_by
WHERE dedup_key = :dedup_key AND resolved_at IS NULL
