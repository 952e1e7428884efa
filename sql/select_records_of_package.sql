SELECT r.*
FROM records AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id AND f.intake_date = :business_date
ORDER BY r.business_no
