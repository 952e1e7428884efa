SELECT COUNT(*)
FROM records
WHERE file_id = :file_id AND ack_status = 'ACCEPTED'
  AND state NOT IN ('SETTLED', 'RETURNED', 'DISBURSED', 'DECLINED')
