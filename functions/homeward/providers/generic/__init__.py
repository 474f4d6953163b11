"""generic: see its modules; registered in homeward/providers/registry.py."""
