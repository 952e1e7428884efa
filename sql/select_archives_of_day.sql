SELECT client_id, location, manifest_sha256, members FROM archives WHERE business_date = :business_date
ORDER BY client_id
