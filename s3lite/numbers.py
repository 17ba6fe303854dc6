"""Whole numbers as clients write them in headers and query strings."""


def is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()
