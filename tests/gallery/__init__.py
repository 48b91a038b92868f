"""A gallery of realistic small models, healthy and broken, labelled from measured evidence.

models.py: the models and their synthetic data; cases.py: the cases and ``run_case``;
judge.py: what gradtop's diagnosis says about a case's file and whether that fits the
label; test_gallery.py: the slow tests; scorecard.py: the table.
"""
