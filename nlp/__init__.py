"""policy-nlp: read Chinese local S&T bureau work reports, tag paragraphs with policy themes and entities."""

__version__ = "0.1.0"
