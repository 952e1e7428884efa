SELECT COUNT(*) FROM business_days WHERE business_date = :business_date AND status = 'CLOSED'
