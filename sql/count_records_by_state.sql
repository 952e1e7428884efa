SELECT state, COUNT(*) AS n FROM records WHERE business_date = :business_date GROUP BY state
