UPDATE records
SET state = :state, final_code = :final_code, final_date = :final_date
WHERE business_no = :business_no AND state = :expected
