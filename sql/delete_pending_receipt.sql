DELETE FROM files WHERE file_id = :file_id AND status = 'RECEIVED' AND original = 0 AND duplicate_of IS NULL
