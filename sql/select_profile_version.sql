SELECT content FROM profile_versions WHERE client_id = :client_id AND version = :version
