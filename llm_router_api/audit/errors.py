"""The one exception the audit package raises for things an operator must fix (keys, files, tampering)."""


class AuditError(Exception):
    """A clear, content-free message: never a payload, at most paths, line numbers and key ids."""
