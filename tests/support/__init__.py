"""Helpers the tests share that are bigger than a fixture: an offline trivy DB writer."""
