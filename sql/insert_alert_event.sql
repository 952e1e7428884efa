INSERT INTO alert_events (dedup_key, kind, severity, client_id, business_date, message, stage, details, run_url)
VALUES (:dedup_key, :kind, :severity, :client_id, :business_date, :message, :stage, :details, :run_url)
ON CONFLICT (dedup_key) DO NOTHING
