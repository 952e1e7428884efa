UPDATE legal_holds SET released_by = :released_by, released_at = CURRENT_TIMESTAMP
WHERE hold_id = :hold_id AND released_at IS NULL
