"""Detectors: front-ends, aggregation, back-ends and the architecture registry."""
