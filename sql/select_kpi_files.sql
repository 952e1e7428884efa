-- Files of each client and business date in a range (duplicates excluded), for KPIs.
SELECT client_id, business_date, file_type, status, reason_code, received_at
FROM files
WHERE business_date BETWEEN :start AND :end
    AND client_id IS NOT NULL
    AND duplicate_of IS NULL
ORDER BY client_id, business_date, file_id
