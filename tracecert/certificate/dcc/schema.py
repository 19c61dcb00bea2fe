"""The DCC format as TraceCert reads and writes it: namespaces, the versions read (3.0.0 to 3.3.0) and their bundled
XSDs (resolved by namespace, never fetched), safe parsing and XSD validation."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import defusedxml.common
import defusedxml.ElementTree
import xmlschema
from lxml import etree

from tracecert.certificate.errors import (
    DccInvalid,
    DccSchemaUnsupported,
    DccSignedOldSchema,
    DccTooLarge,
    DccWrongRoot,
    FieldError,
    XmlMalformed,
    XmlUnsafe,
)

__all__ = [
    "DCC_MEDIA_TYPE",
    "DCC_NS",
    "DEFAULT_MAX_BYTES",
    "DS_NS",
    "EXPORT_SCHEMA_VERSION",
    "MAX_XML_ATTRIBUTES",
    "MAX_XML_DEPTH",
    "NO_DIGEST_PROCEDURE",
    "NS",
    "ROOT_TAG",
    "SIGNED_SCHEMA_VERSIONS",
    "SI_NS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "TRACECERT_DIGEST_PROCEDURE",
    "dcc_schema",
    "hardened_parser",
    "parse_dcc",
    "validate_dcc",
    "validate_tree",
]

DCC_NS = "https://ptb.de/dcc"
SI_NS = "https://ptb.de/si"
NS = {"dcc": DCC_NS, "si": SI_NS}
"""Prefixes for ``find``/``findall`` paths (and for the writer's ``prefix:local`` tags)."""
ROOT_TAG = f"{{{DCC_NS}}}digitalCalibrationCertificate"
DCC_MEDIA_TYPE = "application/xml"
TRACECERT_DIGEST_PROCEDURE = "tracecert-certificate-digest/v1"
"""``hashType/procedure`` marking ``value`` as a TraceCert certificate digest (standards used, replaces)."""
NO_DIGEST_PROCEDURE = "none"
"""``hashType/procedure`` of a certificate named by its number only (its digest is not known); ``value`` is
``none``."""
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_XML_DEPTH = 256
"""libxml2's element depth bound without ``huge_tree`` (a PTB DCC nests about 15 deep); deeper XML is refused."""
MAX_XML_ATTRIBUTES = 64
"""Attributes one element may carry (a DCC element has a handful): the XSD validator's time grows with the cube of
their number (4,000 on one element took two minutes), so more are refused before it runs."""

_SCHEMA_PACKAGE = "tracecert.certificate.schemas.dcc"
_MAX_XSD_ERRORS = 20


@dataclass(frozen=True)
class _BundledSchema:
    """One DCC version's XSD in :data:`_SCHEMA_PACKAGE` and, per namespace it imports, the bundled file that
    namespace resolves to (the ``schemaLocation``s inside the XSDs name remote URLs and are never used)."""

    file: str
    imports: dict[str, str]


DS_NS = "http://www.w3.org/2000/09/xmldsig#"
"""The XML-signature namespace: DCC 3.2 and later may end with an enveloped ``ds:Signature``."""
QUDT_NS = "http://qudt.org/vocab/"

_D_SI_2_1_0 = {SI_NS: "si-2.1.0.xsd"}
_SIGNED_2_1_0 = {SI_NS: "si-2.1.0.xsd", DS_NS: "xmldsig-core-schema.xsd"}
_SIGNED_2_2_1 = {SI_NS: "si-2.2.1.xsd", QUDT_NS: "qudt-quantitykind-2.2.1.xsd", DS_NS: "xmldsig-core-schema.xsd"}

# A version is read when it is listed here (and has a mapping in reading.py); its files go to _SCHEMA_PACKAGE.
_BUNDLED: dict[str, _BundledSchema] = {
    "3.0.0": _BundledSchema("dcc-3.0.0.xsd", _D_SI_2_1_0),
    "3.1.1": _BundledSchema("dcc-3.1.1.xsd", _D_SI_2_1_0),
    "3.1.2": _BundledSchema("dcc-3.1.2.xsd", _D_SI_2_1_0),
    "3.2.0": _BundledSchema("dcc-3.2.0.xsd", _SIGNED_2_1_0),
    "3.2.1": _BundledSchema("dcc-3.2.1.xsd", _SIGNED_2_1_0),
    "3.3.0": _BundledSchema("dcc-3.3.0.xsd", _SIGNED_2_2_1),
}
SUPPORTED_SCHEMA_VERSIONS = tuple(_BUNDLED)
SIGNED_SCHEMA_VERSIONS = ("3.2.0", "3.2.1", "3.3.0")
"""The versions whose schema allows an enveloped ``ds:Signature`` (3.0 and 3.1 have none)."""
EXPORT_SCHEMA_VERSION = "3.3.0"


@functools.cache
def dcc_schema(version: str) -> xmlschema.XMLSchema:
    """Return the XSD of a supported DCC version, loaded from the package; each namespace it imports resolves to
    its bundled file (``https://ptb.de/si``: D-SI 2.1.0) and nothing is ever fetched (``allow="local"``). Cached
    per version.

    Raises:
        DccSchemaUnsupported: ``version`` is not one of :data:`SUPPORTED_SCHEMA_VERSIONS`.
    """
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise DccSchemaUnsupported(_unsupported(version))
    bundled = _BUNDLED[version]
    folder = resources.files(_SCHEMA_PACKAGE)
    return xmlschema.XMLSchema(
        str(folder.joinpath(bundled.file)),
        locations={namespace: str(folder.joinpath(file)) for namespace, file in bundled.imports.items()},
        allow="local",
        defuse="always",
    )


def _unsupported(version: str | None) -> str:
    return f"DCC schemaVersion {version!r} is not supported (supported: {', '.join(SUPPORTED_SCHEMA_VERSIONS)})"


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entities, loads no DTD, uses no network and keeps the depth bound."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_dcc(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[etree._ElementTree, str]:
    """Parse DCC XML safely and return ``(tree, schemaVersion)``; the schema itself is not checked here.

    Refused before any XML processing: inputs over ``max_bytes``. Refused by a first pass (defusedxml):
    any DOCTYPE, entity declaration or external reference (expat builds the tree without recursion). Then lxml
    parses without entity resolution, network or huge-tree support, which bounds the depth at
    :data:`MAX_XML_DEPTH` elements before the schema validator (recursive) sees the tree.

    Raises:
        DccTooLarge: more than ``max_bytes``.
        XmlUnsafe: DOCTYPE, ENTITY declarations, entity references or external references; an element with
            more than :data:`MAX_XML_ATTRIBUTES` attributes.
        XmlMalformed: not well-formed XML.
        DccWrongRoot: the root element is not a DCC.
        DccSchemaUnsupported: no or an unsupported ``schemaVersion``.
        DccSignedOldSchema: a 3.0 or 3.1 DCC with a ``ds:Signature``.
    """
    if len(data) > max_bytes:
        raise DccTooLarge(f"document is {len(data)} bytes; the limit is {max_bytes}")
    try:
        defusedxml.ElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.common.DefusedXmlException as e:
        raise XmlUnsafe(f"refused unsafe XML construct: {type(e).__name__}") from e
    except defusedxml.ElementTree.ParseError as e:
        raise XmlMalformed(f"not well-formed XML: {e}") from e
    except (ValueError, LookupError) as e:  # UTF-7 and other multi-byte or unknown declared encodings
        raise XmlMalformed(f"XML in an unsupported encoding (use UTF-8): {e}") from e
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except etree.XMLSyntaxError as e:
        raise XmlMalformed(f"not well-formed XML: {e}") from e
    except (ValueError, LookupError) as e:
        raise XmlMalformed(f"XML in an unsupported encoding (use UTF-8): {e}") from e
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:  # pragma: no cover - defusedxml caught it
        raise XmlUnsafe("DOCTYPE declarations are refused")
    for element in root.iter():
        if len(element.attrib) > MAX_XML_ATTRIBUTES:
            count = len(element.attrib)
            raise XmlUnsafe(f"an element carries {count} attributes; at most {MAX_XML_ATTRIBUTES} are read")
    if root.tag != ROOT_TAG:
        raise DccWrongRoot(f"root element is {root.tag!r}, not {ROOT_TAG!r}")
    version = root.get("schemaVersion")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise DccSchemaUnsupported(_unsupported(version))
    if version not in SIGNED_SCHEMA_VERSIONS and root.find(f"{{{DS_NS}}}Signature") is not None:
        raise DccSignedOldSchema(
            f"a DCC {version} carries a ds:Signature, which its schema does not allow; a signed DCC is "
            f"{' or '.join(SIGNED_SCHEMA_VERSIONS)} (the file is refused, not repaired)"
        )
    return tree, version


def validate_dcc(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Parse (see :func:`parse_dcc`) and validate DCC XML against the XSD of its declared version; return it.

    Raises:
        DccInvalid: XSD violations, listed in ``errors`` (``field`` = XPath, ``rule`` = ``xsd``).
        DccTooLarge, XmlUnsafe, XmlMalformed, DccWrongRoot, DccSchemaUnsupported: see :func:`parse_dcc`.
    """
    tree, version = parse_dcc(data, max_bytes=max_bytes)
    validate_tree(tree, version)
    return version


def validate_tree(tree: etree._ElementTree, version: str) -> None:
    """Validate a parsed tree against the XSD of ``version``; the first 20 violations are reported.

    Raises:
        DccInvalid: XSD violations, listed in ``errors`` (``field`` = XPath, ``rule`` = ``xsd``).
        DccSchemaUnsupported: ``version`` is not supported.
    """
    errors: list[FieldError] = []
    for err in dcc_schema(version).iter_errors(tree, use_location_hints=False):
        errors.append(FieldError(err.path or "/", "xsd", err.reason or str(err.message)))
        if len(errors) >= _MAX_XSD_ERRORS:
            break
    if errors:
        raise DccInvalid(f"document does not validate against DCC {version}", errors)
