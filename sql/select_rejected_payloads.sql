SELECT payload
FROM records_with_payload
WHERE file_id = :file_id AND ack_status = 'REJECTED'
ORDER BY line_no
