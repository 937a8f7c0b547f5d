"""Small real modules for the engine tests: they touch real files in tmp_path."""
