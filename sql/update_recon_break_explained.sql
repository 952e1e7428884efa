UPDATE recon_breaks
SET explained_by = :explained_by, explanation = :explanation
WHERE client_id = :client_id AND business_date = :business_date AND kind = :kind
  AND subject = :subject
