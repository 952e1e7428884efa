SELECT version, content, first_seen_at FROM profile_versions WHERE client_id = :client_id ORDER BY first_seen_at, version
