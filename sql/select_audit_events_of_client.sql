SELECT event_id, at, actor, action, subject, detail
FROM audit_events
WHERE subject = :client_id
    OR subject LIKE :client_id || '/%'
    OR subject LIKE :client_id || '-%'
    OR subject LIKE :client_id || '\_%' ESCAPE '\'
ORDER BY event_id
