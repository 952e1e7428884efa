UPDATE files SET inbox_done = 1, updated_at = CURRENT_TIMESTAMP WHERE file_id = :file_id
