INSERT INTO alert_deliveries (dedup_key, channel, action, target, status)
VALUES (:dedup_key, :channel, :action, :target, 'SENDING')
ON CONFLICT (dedup_key, channel, action) DO NOTHING
