"""The rulebook: how a certificate is judged, defined once and run by both services.

- :mod:`~tracecert.verification.report`: the check catalog (codes, severities, Chinese and English texts) and the
  report with its verdict;
- :mod:`~tracecert.verification.chainview`: what the checks ask of the chain (a protocol; a live node answers it,
  and so does the verifier's own index);
- :mod:`~tracecert.verification.sources`: where proof bundles are found (never trusted);
- :mod:`~tracecert.verification.engine`: the checks themselves.

The verifier runs every check on anchored certificates; the registry runs, at acceptance, every check that can be
decided then, so that what it anchors the verifier does not call invalid.
"""
