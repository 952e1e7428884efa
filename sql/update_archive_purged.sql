UPDATE archives SET purged_at = CURRENT_TIMESTAMP WHERE client_id = :client_id AND business_date = :business_date
