SELECT event_id, at, actor, action, subject, detail, client_id, seq, prev_hash, hash
FROM audit_events
WHERE client_id = :client_id
ORDER BY seq, event_id
