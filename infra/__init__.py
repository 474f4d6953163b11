"""Infrastructure helpers: template loading, the local stack, OpenAPI generation, benchmarks."""
