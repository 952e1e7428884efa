DELETE FROM alert_deliveries
WHERE dedup_key = :dedup_key AND channel = :channel AND action = :action AND status = 'SENDING'
