SET LOCAL work_mem = '256MB'
