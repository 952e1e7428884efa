SELECT kind, subject, expected, actual, explained_by, explanation
FROM recon_breaks
WHERE client_id = :client_id AND business_date = :business_date
ORDER BY kind, subject
