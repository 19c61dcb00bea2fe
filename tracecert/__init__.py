"""TraceCert core: the one definition of a certificate and the chain layer, shared by registry and verifier.

- :mod:`tracecert.certificate`: data model, canonical form, digest, signatures, Merkle batches, proof bundles, DCC XML.
- :mod:`tracecert.chain`: compiled contracts, JSON-RPC connection, local Anvil node, deployment, transaction sending.
"""

from pathlib import Path

__version__ = "0.1.0"

#: What both services' pages share (``base.css``: the palette, fonts and base), served by each at ``/shared``.
SHARED_STATIC = Path(__file__).with_name("static")
