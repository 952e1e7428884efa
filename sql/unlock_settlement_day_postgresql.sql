SELECT pg_advisory_unlock(7402312, hashtext(:client_id || ' ' || :business_date))
