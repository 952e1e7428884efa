DELETE FROM aml_screenings WHERE client_id = :client_id AND business_date = :business_date
