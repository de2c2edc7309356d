"""Scoring predictions against ground truth, the HTML report, and group comparison.

* :mod:`mouseact.evaluation.evaluate` -- read predictions + ground truth (Supervisely project,
  BORIS export or interval CSV), frame / segment / mAP scores, confusion matrix.
* :mod:`mouseact.evaluation.report` -- one self-contained HTML file (images embedded).
* :mod:`mouseact.evaluation.compare` -- per-behaviour statistics between conditions.
* :mod:`mouseact.evaluation.cli` -- ``mouseact evaluate`` and ``mouseact compare``.
"""
