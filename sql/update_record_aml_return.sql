UPDATE records
SET state = 'RETURNED', final_code = 'M_AML_HOLD', final_date = business_date
WHERE business_no = :business_no AND state = 'AML_HOLD'
