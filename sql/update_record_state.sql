UPDATE records SET state = :state WHERE business_no = :business_no AND state = :expected
