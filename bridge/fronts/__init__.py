"""Thin codecs: parse a request, call the core, render the answer. No front knows the upstream."""
