INSERT INTO business_days (business_date, status, closed_at)
VALUES (:business_date, 'CLOSED', CURRENT_TIMESTAMP)
ON CONFLICT (business_date) DO UPDATE SET status = 'CLOSED'
