INSERT INTO audit_events (at, actor, action, subject, detail, client_id, seq, prev_hash, hash)
VALUES (:at, :actor, :action, :subject, :detail, :client_id, :seq, :prev_hash, :hash)
