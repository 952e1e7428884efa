DELETE FROM temp.settlement_chunk
