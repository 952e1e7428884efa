SELECT client_id, event_count, head_hash
FROM audit_chain_heads
ORDER BY client_id
