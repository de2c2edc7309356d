"""``mouseact.inference``: the streaming inference pipeline (``Predictor``) and the batch runner.

Heavy modules load lazily so ``mouseact --help`` stays instant.
"""

__all__ = ["Predictor", "PipelineConfig", "VideoResult", "run_batch"]


def __getattr__(name):
    if name in ("Predictor", "PipelineConfig", "VideoResult"):
        from mouseact.inference import pipeline

        return getattr(pipeline, name)
    if name == "run_batch":
        from mouseact.inference.batch import run_batch

        return run_batch
    raise AttributeError(name)
