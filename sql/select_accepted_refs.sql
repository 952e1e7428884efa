SELECT client_ref
FROM records
WHERE client_id = :client_id AND ack_status = 'ACCEPTED' AND file_id <> :file_id AND client_ref IN :refs
