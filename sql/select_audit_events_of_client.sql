SELECT event_id, at, actor, action, subject, detail
FROM audit_events
WHERE client_id = :client_id
ORDER BY event_id
