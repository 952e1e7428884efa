SELECT event_count, head_hash
FROM audit_chain_heads
WHERE client_id = :client_id
