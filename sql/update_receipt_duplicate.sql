UPDATE files SET duplicate_of = :duplicate_of, updated_at = CURRENT_TIMESTAMP WHERE file_id = :file_id
