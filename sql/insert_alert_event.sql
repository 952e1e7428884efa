INSERT INTO alert_events (dedup_key, kind, severity, client_id, business_date, message)
VALUES (:dedup_key, :kind, :severity, :client_id, :business_date, :message)
ON CONFLICT (dedup_key) DO NOTHING
