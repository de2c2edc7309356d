"""MouseAct: find when a laboratory mouse does what in long videos.

This package is the shared library (the repository's ``common/`` folder). The pipeline stages
live in sub-packages mapped from the other top-level folders:

    mouseact.preprocess   detection, tracking, cropping, annotation import, clip cutting
    mouseact.train        training entries (detector, localizer, classifier)
    mouseact.inference    the streaming inference pipeline and its outputs
    mouseact.serve        HTTP serving (FastAPI)
    mouseact.apps         platform apps (config.json + widget UI)

Data flows one way: video -> detect -> localize -> classify -> post-process -> export.
"""

__version__ = "0.1.0"
