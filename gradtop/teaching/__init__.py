"""Teaching logic without a model or a screen: lesson steps, their texts, the scorecard.

Pure on purpose: the Textual lesson views (gradtop.ui) and the torch-side demos
(gradtop.demos) both depend on it, and it depends on neither, so neither has to import
the other.
"""
