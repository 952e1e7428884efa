DELETE FROM record_payloads WHERE file_id = :file_id
