"""The seed APIs' error codes as data, and the loader that reads them.

Each API is one YAML file in this folder (``analytics.yaml``, ``nanostream.yaml``,
``counters.yaml``); users may write their own in the same format and pass its path wherever an
API name is accepted. Every entry is copied verbatim from a seed document under
``shared/seeds/``; ``advice`` says what that document tells a client to do about the code.

>>> cat = load_catalog("analytics")
>>> cat["ANALYTICS_1701"].advice
'after_window'
>>> classify("counters", 429, b'{"message": "Too Many Requests"}').code
'HTTP_429'

The rooms: ``codes`` (one code, and the rules for naming codes and families), ``api`` (the
:class:`Catalog` of one API: lookup, classification, response bodies), ``schema`` (the file
format, as pydantic models) and ``load`` (reading built-in catalogs and files).

Importing this package reads no file: catalogs are parsed on first use and the built-in ones are
cached. pydantic is imported by the first parse, pandas only by :meth:`Catalog.to_frame`.
"""

from ..errors import CatalogError
from .api import BODY_FORMATS, Catalog
from .codes import ADVICE, ErrorCode, UnknownCodeError, in_family
from .load import API_NAMES, classify, load_catalog

__all__ = [
    "ADVICE",
    "API_NAMES",
    "BODY_FORMATS",
    "Catalog",
    "CatalogError",
    "ErrorCode",
    "UnknownCodeError",
    "classify",
    "in_family",
    "load_catalog",
]
