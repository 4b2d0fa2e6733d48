"""Mapping files from and against the live catalogue: ``booking-bridge mappings discover``
writes a skeleton to edit, ``mappings check`` (and ``check --online``) holds every
mapping against what the upstream offers and what Actions Center can book."""

from .commands import add_parser, check_and_say, check_mappings, check_online, overview, read_catalogue, run

__all__ = ["add_parser", "check_and_say", "check_mappings", "check_online", "overview", "read_catalogue", "run"]
