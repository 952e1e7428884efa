SELECT file_id, submitted_by, submitted_at FROM approval_submissions WHERE file_id = :file_id
