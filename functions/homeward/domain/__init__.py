"""Pure domain rules. Nothing here imports boto3 or reads the environment."""
