SELECT payload
FROM records
WHERE file_id = :file_id AND ack_status = 'REJECTED'
ORDER BY line_no
