DELETE FROM aml_cases
WHERE business_no IN (
    SELECT r.business_no
    FROM records AS r
    INNER JOIN files AS f ON r.file_id = f.file_id
    WHERE f.folder = :client_id
)
