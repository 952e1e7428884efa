SELECT COUNT(*) FROM files WHERE folder = :folder AND stem = :stem
