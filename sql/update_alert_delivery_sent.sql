UPDATE alert_deliveries SET status = 'SENT', sent_at = CURRENT_TIMESTAMP
WHERE dedup_key = :dedup_key AND channel = :channel AND action = :action
