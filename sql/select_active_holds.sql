SELECT hold_id, client_id, business_date, reason, placed_by
FROM legal_holds
WHERE client_id = :client_id AND released_at IS NULL AND (business_date IS NULL OR business_date = :business_date)
ORDER BY hold_id
