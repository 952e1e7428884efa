SELECT event_id, at, actor, action, subject, detail, client_id, seq, prev_hash, hash
FROM audit_events
ORDER BY client_id, seq, event_id
