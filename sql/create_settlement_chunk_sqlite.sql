-- SQLite: the chunk of payments a settlement transaction applies (one per connection, temporary).
CREATE TEMPORARY TABLE IF NOT EXISTS settlement_chunk (
    business_no TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    file_id BIGINT NOT NULL,
    line_no INTEGER NOT NULL,
    settle INTEGER NOT NULL
)
