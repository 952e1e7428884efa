INSERT INTO aml_large_value (client_id, business_date, payer_id_type, payer_id_no, payments, total_cents)
VALUES (:client_id, :business_date, :payer_id_type, :payer_id_no, :payments, :total_cents)
