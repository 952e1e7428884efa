-- The intake run of a business date opens it (once): a closed day stays closed.
INSERT INTO business_days (business_date, status)
VALUES (:business_date, 'OPEN')
ON CONFLICT (business_date) DO NOTHING
