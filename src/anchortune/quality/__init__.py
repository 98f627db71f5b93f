"""The quality gate: pure scorers over anchor points, embeddings (model passed in), the report."""
