SELECT event_id, at, actor, action, subject, detail
FROM audit_events
WHERE subject = :subject
ORDER BY event_id
