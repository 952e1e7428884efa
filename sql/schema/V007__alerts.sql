-- Alerts, version 7: what each alert event is about, when its condition cleared, and every
-- delivery made for it. One delivery row per (alert, channel, action): a persisting condition
-- pages once, and its resolve message goes out once.
ALTER TABLE alert_events ADD COLUMN stage TEXT;
ALTER TABLE alert_events ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
ALTER TABLE alert_events ADD COLUMN run_url TEXT;
ALTER TABLE alert_events ADD COLUMN resolved_at TIMESTAMP;
ALTER TABLE alert_events ADD COLUMN resolved_by TEXT;
CREATE INDEX ix_alert_events_day ON alert_events (business_date, client_id);

-- A row is claimed (status SENDING) before the send and marked SENT after it; a failed send
-- deletes its claim so the next delivery run retries it. The primary key makes two racing
-- deliverers send at most once.
CREATE TABLE alert_deliveries (
    dedup_key TEXT NOT NULL REFERENCES alert_events (dedup_key),
    channel TEXT NOT NULL CHECK (channel IN ('pagerduty', 'slack', 'email')),
    action TEXT NOT NULL CHECK (action IN ('trigger', 'resolve')),
    target TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('SENDING', 'SENT')),
    claimed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    sent_at TIMESTAMP,
    PRIMARY KEY (dedup_key, channel, action)
);
