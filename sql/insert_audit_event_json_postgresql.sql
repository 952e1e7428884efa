INSERT INTO audit_events (at, actor, action, subject, detail, client_id, seq, prev_hash, hash)
SELECT v.at, v.actor, v.action, v.subject, v.detail, v.client_id, v.seq, v.prev_hash, v.hash
FROM json_to_recordset(CAST(:rows AS JSON)) AS v (
    at TIMESTAMP, actor TEXT, action TEXT, subject TEXT, detail TEXT, client_id TEXT, seq BIGINT,
    prev_hash TEXT, hash TEXT
)
ORDER BY v.seq
