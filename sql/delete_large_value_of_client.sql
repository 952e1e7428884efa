DELETE FROM aml_large_value
WHERE client_id = :client_id
