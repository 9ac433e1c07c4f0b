"""Sandbox-side tools, imported as ``madagents_tools`` (the folder is ``tools/``).

Each tool is a module runnable as ``python -m madagents_tools.<stage>.<name> REQUEST.json RESULT.json``; its stage
is the sub-package: generation, detector, analysis, ml, io (event records, and source_events, which checks an earlier
run's events before a reanalysis). Only the standard library and pydantic are imported at module level, so the
host can import the request and result models without the heavy physics stack.
"""

# The module of each tool, by the name its request carries (``ToolRequest.tool``).
TOOL_MODULES = {
    "environment": "madagents_tools.environment",
    "pythia8_generate": "madagents_tools.generation.pythia8_generate",
    "mg5_generate": "madagents_tools.generation.mg5_generate",
    "merge_samples": "madagents_tools.generation.merge_samples",
    "detector": "madagents_tools.detector.detector",
    "analyze": "madagents_tools.analysis.analyze",
    "plot_samples": "madagents_tools.analysis.plot_samples",
    "source_events": "madagents_tools.io.source_events",
    "amplitude_surrogate": "madagents_tools.ml.amplitude_surrogate",
    "cfm_generator": "madagents_tools.ml.cfm_generator",
    "classifier_test": "madagents_tools.ml.classifier_test",
}
