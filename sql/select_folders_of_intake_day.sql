SELECT DISTINCT folder FROM files WHERE intake_date = :business_date ORDER BY folder
