INSERT INTO audit_chain_heads (client_id, event_count, head_hash)
VALUES (:client_id, 0, :genesis)
ON CONFLICT (client_id) DO NOTHING
