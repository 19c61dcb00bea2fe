"""The rulebook: how a certificate is judged, defined once and run by both services.

- :mod:`~tracecert.verification.report`: the check catalog (codes, severities, Chinese and English texts) and the
  report with its verdict;
- :mod:`~tracecert.verification.chainview`: what the checks ask of the chain (a protocol; a live node answers it,
  and so does the verifier's own index);
- :mod:`~tracecert.verification.sources`: where proof bundles are found (never trusted);
- :mod:`~tracecert.verification.evidence`: what every check is given: the certificate normalized to evidence, and
  the policy (thresholds, and the calendar dates are counted in);
- :mod:`~tracecert.verification.engine`: the verifier: its entry points (bundle, record, document, number, and the
  registry's preflight), the checks run in order, the standards' certificates reused for a few seconds;
- the checks by family: :mod:`~tracecert.verification.checks_record` (integrity and anchoring, kind, dates,
  lifecycle, number), :mod:`~tracecert.verification.checks_lab` (the lab's key and authorization) and
  :mod:`~tracecert.verification.trace` (the traceability walk and its link-by-link checks).

The verifier runs every check on anchored certificates; the registry runs, at acceptance, every check that can be
decided then, so that what it anchors the verifier does not call invalid.
"""
