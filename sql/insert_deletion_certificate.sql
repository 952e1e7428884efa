INSERT INTO deletion_certificates (kind, client_id, subject, approved_by, issued_on, certificate_sha256, location)
VALUES (:kind, :client_id, :subject, :approved_by, :issued_on, :certificate_sha256, :location)
ON CONFLICT (kind, subject) DO NOTHING
