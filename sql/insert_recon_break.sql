INSERT INTO recon_breaks (client_id, business_date, kind, subject, expected, actual)
VALUES (:client_id, :business_date, :kind, :subject, :expected, :actual)
ON CONFLICT (client_id, business_date, kind, subject) DO NOTHING
