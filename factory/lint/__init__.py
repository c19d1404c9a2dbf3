"""Lint and policy: the factory's own rule catalogue plus hadolint, shellcheck and trivy.

Works on any Dockerfile, not only rendered ones; every rule and tool reads
one parsed view of each file (`parse`).
"""
