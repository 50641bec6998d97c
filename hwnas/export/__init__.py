"""Deployable export of a run's Pareto set: trained, verified, re-measured ONNX models.

For the architectures a finished (or stopped) run found, :func:`export_run`

1. chooses the models: where the run's runtime is available here, the search's front and
   next fronts (a bounded pool) are measured first and the choice is made on the measured
   latency with the real ceilings (:mod:`~hwnas.export.selection`); without it, on the
   search's predictions, and the manifest says so (``selection``),
2. trains each from scratch with the final recipe (the search used cheap estimates),
3. exports it to ONNX (dynamic batch axis, metadata: architecture, accuracy, predicted and
   measured latency, device, feasibility), checked by ``onnx.checker``,
4. compares onnxruntime's outputs with PyTorch's on validation images (max abs diff,
   <= 1e-4 required for fp32),
5. re-measures its latency on the run's target runtime with the profiling protocol, and
6. flags it: a model that breaks a budget once measured is marked ``feasible: false``
   (with ``broken_budgets``, also in the ONNX metadata), never shipped as feasible.

Optional ``fp16`` and ``int8`` variants (:mod:`~hwnas.export.variants`) get their own
accuracy, latency and a parity check against fp32; each model says which file to deploy
(``deploy``, ``deploy_reason``). A variant that cannot be made is left out and listed
under the manifest's ``failures`` (``part``, ``error``). The run's predictor calibration
(``runs/<id>/calibration.json``) is summarised under ``calibration``.
``runs/<id>/export/manifest.json`` lists the set.

Modules: :mod:`~hwnas.export.run` (the loop), :mod:`~hwnas.export.selection` (what is
trained), :mod:`~hwnas.export.keep` (what is kept once trained),
:mod:`~hwnas.export.variants`, :mod:`~hwnas.export.measure`, :mod:`~hwnas.export.manifest`.
"""

from hwnas.export.manifest import calibration_text, load_calibration, load_manifest, speed_text
from hwnas.export.measure import measure_latency_ms, target_runtime
from hwnas.export.run import PARITY_TOLERANCE, ExportedModel, export_run
from hwnas.export.variants import VARIANTS

__all__ = [
    "PARITY_TOLERANCE",
    "VARIANTS",
    "ExportedModel",
    "calibration_text",
    "export_run",
    "load_calibration",
    "load_manifest",
    "measure_latency_ms",
    "speed_text",
    "target_runtime",
]
