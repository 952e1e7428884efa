INSERT INTO audit_events (actor, action, subject, detail)
VALUES (:actor, :action, :subject, :detail)
