"""PTB Digital Calibration Certificate (DCC) XML: safe parsing, XSD validation (3.0.0, 3.1.1, 3.1.2 from the
bundled schemas, never fetched), import into a :class:`CertificateRecord`, and export to DCC 3.1.2.

- :mod:`~tracecert.certificate.dcc.schema`: namespaces, the versions read and their bundled XSDs, parsing and
  validation (``parse_dcc``, ``validate_dcc``).
- :mod:`~tracecert.certificate.dcc.reading`: ``import_dcc``, one mapping per version, part by part.
- :mod:`~tracecert.certificate.dcc.quantities`: the import's D-SI values (results, influence conditions), by form.
- :mod:`~tracecert.certificate.dcc.text`: text out of a parsed DCC (language choice) and the import's notes.
- :mod:`~tracecert.certificate.dcc.export`: ``export_dcc``.

The mapping is documented in ``docs/bundle.md`` ("DCC import and export").
"""

from tracecert.certificate.dcc.export import export_dcc
from tracecert.certificate.dcc.reading import DccImport, DccOverrides, import_dcc
from tracecert.certificate.dcc.schema import (
    DCC_MEDIA_TYPE,
    DCC_NS,
    DEFAULT_MAX_BYTES,
    EXPORT_SCHEMA_VERSION,
    MAX_XML_DEPTH,
    SI_NS,
    SUPPORTED_SCHEMA_VERSIONS,
    TRACECERT_DIGEST_PROCEDURE,
    dcc_schema,
    parse_dcc,
    validate_dcc,
)

__all__ = [
    "DCC_MEDIA_TYPE",
    "DCC_NS",
    "DEFAULT_MAX_BYTES",
    "EXPORT_SCHEMA_VERSION",
    "MAX_XML_DEPTH",
    "SI_NS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "TRACECERT_DIGEST_PROCEDURE",
    "DccImport",
    "DccOverrides",
    "dcc_schema",
    "export_dcc",
    "import_dcc",
    "parse_dcc",
    "validate_dcc",
]
