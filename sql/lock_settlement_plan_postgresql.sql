SELECT pg_advisory_xact_lock(7402312, hashtext(:client_id || ' ' || :business_date))
