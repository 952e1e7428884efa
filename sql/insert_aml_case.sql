INSERT INTO aml_cases (business_no, client_id, business_date, rule, detail, status)
VALUES (:business_no, :client_id, :business_date, :rule, :detail, 'OPEN')
ON CONFLICT (business_no) DO NOTHING
