"""Lambda entry points. Each module is one function in template.yaml."""
