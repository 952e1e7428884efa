DELETE FROM recon_breaks
WHERE client_id = :client_id AND business_date = :business_date AND explained_by IS NULL
