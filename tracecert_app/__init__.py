"""The composition root: the ``tracecert`` command, ``tracecert up`` and the demo story.

It sits above the services it wires together (``registry`` and ``verifier``), which sit above the shared core
(``tracecert``); the layers are checked by import-linter in the test suite (``tests/test_layers.py``).
"""
