ANALYZE records
