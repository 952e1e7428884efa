SELECT final_code, COUNT(*) AS n
FROM records
WHERE business_date = :business_date AND final_code IS NOT NULL
GROUP BY final_code
