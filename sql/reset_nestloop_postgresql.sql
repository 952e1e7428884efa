SET LOCAL enable_nestloop TO DEFAULT
