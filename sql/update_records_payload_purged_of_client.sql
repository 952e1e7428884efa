UPDATE records SET payload = '{}'
WHERE file_id IN (SELECT file_id FROM files WHERE folder = :client_id) AND payload <> '{}'
