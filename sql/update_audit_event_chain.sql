UPDATE audit_events
SET client_id = :client_id, seq = :seq, prev_hash = :prev_hash, hash = :hash
WHERE event_id = :event_id
