INSERT INTO approval_submissions (file_id, submitted_by) VALUES (:file_id, :submitted_by)
