SELECT client_id, business_date, kind, severity, resolved_at
FROM alert_events
WHERE business_date BETWEEN :start AND :end
ORDER BY alert_id
