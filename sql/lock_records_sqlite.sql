-- SQLite: take the database's write lock now, before anything is read (an update that changes no
-- row still starts a write transaction), so that what the transaction reads stays as read.
UPDATE records SET state = state WHERE 0 = 1
