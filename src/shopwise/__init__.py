"""shopwise: a self-hostable personalization engine for online shops."""

__version__ = "0.1.0"

__all__ = ["__version__"]
