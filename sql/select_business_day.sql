SELECT business_date, status FROM business_days WHERE business_date = :business_date
