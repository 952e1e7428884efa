SELECT COUNT(*)
FROM records AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id AND f.intake_date = :business_date
