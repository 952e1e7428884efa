UPDATE files
SET status = :status, reason_code = :reason_code, message = :message, updated_at = CURRENT_TIMESTAMP
WHERE file_id = :file_id AND status = :expected
