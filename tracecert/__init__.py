"""TraceCert core: the one definition of a certificate and the chain layer, shared by registry and verifier.

- :mod:`tracecert.certificate`: data model, canonical form, digest, signatures, Merkle batches, proof bundles, DCC XML.
- :mod:`tracecert.chain`: compiled contracts, JSON-RPC connection, local Anvil node, deployment, transaction sending.
"""

__version__ = "0.1.0"
