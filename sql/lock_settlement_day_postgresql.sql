-- One settlement of a client's day at a time: a session lock, held by a connection of its own
-- while the day is planned and applied (released by unlock_settlement_day_postgresql, or when the
-- connection ends: a killed worker does not leave it behind).
SELECT pg_advisory_lock(7402312, hashtext(:client_id || ' ' || :business_date))
