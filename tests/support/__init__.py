"""Test doubles shared by the tests and benchmarks: local servers, synthetic data, repo copies.

Never imported by the package or its stages; run from the repository root.
"""
