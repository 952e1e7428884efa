INSERT INTO legal_holds (client_id, business_date, reason, placed_by)
VALUES (:client_id, :business_date, :reason, :placed_by)
