"""gradtop's test suite, a package so that shared helpers have one full import path.

``from tests.support import read_records`` works from any test (pytest puts the
repository root on ``sys.path``) and from a subprocess started with ``python -m tests...``
in the repository root.
"""
