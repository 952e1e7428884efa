UPDATE audit_chain_heads
SET event_count = :event_count, head_hash = :head_hash, updated_at = CURRENT_TIMESTAMP
WHERE client_id = :client_id
