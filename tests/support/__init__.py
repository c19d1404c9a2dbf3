"""Helpers the tests share that are bigger than a fixture: an offline trivy DB writer, a Debian archive, HTML
read as a tree, a headless browser driven over the DevTools protocol."""
