SELECT kind, client_id, subject, approved_by, issued_on, certificate_sha256, location
FROM deletion_certificates
WHERE kind = :kind AND subject = :subject
