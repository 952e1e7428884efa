INSERT INTO profile_versions (client_id, version, content)
VALUES (:client_id, :version, :content)
ON CONFLICT (client_id, version) DO NOTHING
