SELECT event_id, at, actor, action, subject, detail
FROM audit_events
WHERE hash IS NULL
ORDER BY event_id
