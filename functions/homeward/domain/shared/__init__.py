"""Pure helpers every capability uses: strict JSON input, PII masking, webhook signature checks."""
