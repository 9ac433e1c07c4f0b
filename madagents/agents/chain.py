"""The steps of a workflow's simulation chain: generation (in seeded chunks or not), detector, analysis.

Each function appends its steps to the plan under construction and points the chain at the sample they produce,
which the next link reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from madagents.detector_cards import delphes_card_text
from madagents.state import PlanStep, Role
from madagents.workflow import DetectorSpec, MLGeneratorSpec, Workflow
from madagents_tools.analysis import analyze, plot_samples
from madagents_tools.detector import detector
from madagents_tools.detector.delphes import card_file_name
from madagents_tools.generation import merge_samples, mg5_generate, pythia8_generate
from madagents_tools.ml import cfm_generator, classifier_test

__all__ = [
    "Chain",
    "add_analysis",
    "add_detector",
    "add_generation",
    "add_mg5_generation",
    "add_ml_generator",
    "add_sample_plots",
    "chunk_sizes",
]


@dataclass(slots=True)
class Chain:
    """Steps planned so far, and where the sample they produce lies."""

    steps: list[PlanStep] = field(default_factory=list)
    sample_result: str = ""
    """result.json of the step that produced the sample (its σ and event count)."""
    sample_step: str = ""
    """The step that wrote ``events_path`` (the detector, if any, else the generator)."""
    events_path: str = ""
    """ROOT file of final-state objects the next step reads."""
    sample: str = ""
    """Names a further sample's chain: its step ids end in ``_<sample>``, its files lie in ``*/samples/<sample>/``."""

    def path(self, default: str) -> str:
        """Where an output of this chain goes: ``default`` (``events/events.root``), moved into the sample's folder."""
        if not self.sample:
            return default
        head, _, rest = default.partition("/")
        return f"{head}/samples/{self.sample}/{rest}" if rest else f"{head}/samples/{self.sample}"

    def next_number(self) -> int:
        """Number of the next step id; steps that run side by side (chunks) share one."""
        return int(self.steps[-1].id[:2]) + 1 if self.steps else 1

    def add(
        self, name: str, role: Role, description: str, request: object, needs: list[str], number: int | None = None
    ) -> str:
        """Append a step; ``number`` gives it the id number of steps it runs beside (default: the next one)."""
        step = PlanStep.model_validate(
            {
                "id": f"{number or self.next_number():02d}-{name}{f'_{self.sample}' if self.sample else ''}",
                "role": role,
                "description": description,
                "request": request,
                "needs": needs,
            }
        )
        self.steps.append(step)
        return step.id

    def produced(self, step_id: str, events_path: str, *, with_cross_section: bool = True) -> None:
        """``step_id`` wrote the sample the next step reads; its result holds σ unless it only transformed events."""
        self.sample_step, self.events_path = step_id, events_path
        if with_cross_section:
            self.sample_result = f"steps/{step_id}/result.json"


def chunk_sizes(events: int, chunks: int) -> list[int]:
    """``events`` split into ``chunks`` sizes that differ by at most one, the larger first."""
    base, extra = divmod(events, chunks)
    return [base + (index < extra) for index in range(chunks)]


def add_generation(chain: Chain, request: pythia8_generate.Request, chunk_seeds: list[int]) -> None:
    """One Pythia8 step, or one per chunk seed and a merge step that combines the chunks into one sample."""
    if len(chunk_seeds) == 1:
        chain.produced(chain.add("generate", Role.GENERATOR, "Pythia8 events", request, []), request.root_path)
        return
    chunk_ids: list[str] = []
    number = chain.next_number()
    for index, (size, seed) in enumerate(
        zip(chunk_sizes(request.n_events, len(chunk_seeds)), chunk_seeds, strict=True)
    ):
        chunk = request.model_copy(
            update={
                "n_events": size,
                "seed": seed,
                "hepmc_path": chain.path(f"events/chunks/c{index + 1}.hepmc3") if request.hepmc_path else None,
                "root_path": chain.path(f"events/chunks/c{index + 1}.root"),
                "spare_core": False,  # the chunks take every core (or Dask worker) there is
            }
        )
        description = f"Pythia8 events, chunk {index + 1} of {len(chunk_seeds)}"
        chunk_ids.append(chain.add(f"generate_c{index + 1}", Role.GENERATOR, description, chunk, [], number))
    merge = merge_samples.Request(
        chunk_results=[f"steps/{step_id}/result.json" for step_id in chunk_ids],
        root_path=request.root_path,
        hepmc_path=request.hepmc_path,
    )
    step_id = chain.add("merge", Role.GENERATOR, f"Merge the {len(chunk_ids)} chunks into one sample", merge, chunk_ids)
    chain.produced(step_id, request.root_path)


def add_mg5_generation(chain: Chain, hard_process: mg5_generate.Request, shower: pythia8_generate.Request) -> None:
    """MG5 writes the hard process as LHE events; Pythia8 showers and hadronises them."""
    mg5_id = chain.add("mg5", Role.GENERATOR, "MadGraph5 hard process (LHE events)", hard_process, [])
    # the decays are MG5's (its param card, checked from its result): Pythia8's own tables do not describe them
    shower = shower.model_copy(update={"lhe_path": hard_process.lhe_path, "resonances": []})
    step_id = chain.add(
        "shower", Role.GENERATOR, "Pythia8 shower and hadronisation of the LHE events", shower, [mg5_id]
    )
    chain.produced(step_id, shower.root_path)


def add_detector(chain: Chain, spec: DetectorSpec, seed: int, generate: pythia8_generate.Request) -> None:
    if spec.backend == "delphes":
        # a card of the user's travels inline, as a parametric card does: the sandbox sees the run directory only
        text = delphes_card_text(spec.card)
        request = detector.Request(
            backend="delphes",
            seed=seed,
            delphes_card=card_file_name(spec.card) if text is None else Path(spec.card).name,
            delphes_card_text=text,
            hepmc_path=_hepmc_of(generate),
        )
    else:
        request = detector.Request(seed=seed, card=spec.parametric_card(), events_path=generate.root_path)
    request = request.model_copy(update={"output_path": chain.path(request.output_path)})
    description = f"Detector simulation ({spec.backend}, card {spec.card})"
    step_id = chain.add("detector", Role.GENERATOR, description, request, [chain.sample_step])
    chain.produced(step_id, request.output_path, with_cross_section=False)  # σ stays the generator's


def add_analysis(chain: Chain, workflow: Workflow, process_label: str) -> None:
    request = analyze.Request(
        events_path=chain.events_path,
        generation_result_path=chain.sample_result,
        analysis=workflow.analysis,
        process_label=process_label,
        sqrt_s_gev=workflow.beams.sqrt_s_gev,
        out_dir=chain.path("hists"),
    )
    chain.add("analyze", Role.ANALYST, "Selection and histograms", request, [_producer(chain)])


def add_sample_plots(
    chain: Chain, workflow: Workflow, analyses: dict[str, tuple[PlanStep, analyze.Request]], labels: dict[str, str]
) -> None:
    """One step that draws every sample's histograms together (``analyses`` and ``labels`` by sample name)."""
    request = plot_samples.Request(
        samples=[
            plot_samples.SampleInput(
                name=sample.name,
                role=sample.role,
                label=labels[sample.name],
                analysis_result_path=f"steps/{analyses[sample.name][0].id}/result.json",
            )
            for sample in workflow.samples
        ],
        histograms=workflow.analysis.histograms,
        plots=workflow.analysis.plots,
        sqrt_s_gev=workflow.beams.sqrt_s_gev,
    )
    needs = [step.id for step, _ in analyses.values()]
    description = f"The {len(workflow.samples)} samples drawn together ({request.plots.style or 'stack'})"
    chain.add("plot_samples", Role.ANALYST, description, request, needs)


def add_ml_generator(
    chain: Chain,
    spec: MLGeneratorSpec,
    seeds: dict[str, int],
    workflow: Workflow,
    label: str,
    generate: pythia8_generate.Request,
) -> None:
    """A flow-matching generator trained on the sample, the same analysis of its events, and a classifier test.

    The classifier compares the generated events with an independent sample: ``generate`` again with the seed
    ``seeds["reference"]`` (events the flow never saw), or with the training sample itself when the run seeds have
    no reference (behind MG5 or a detector, which would need the whole chain again). The analysis of the sample,
    the generator's training and, after it, the generated events' analysis and the classifier test need only their
    inputs, so the dispatcher runs them side by side.
    """
    sample, sample_result = _producer(chain), chain.sample_result
    learn = cfm_generator.Request(
        events_path=chain.events_path,
        generation_result_path=sample_result,
        collection=spec.collection,
        n_events=spec.n_events,
        training=cfm_generator.Request.model_fields["training"].default.model_copy(update={"epochs": spec.epochs}),
        seed=seeds["cfm"],
    )
    learn_id = chain.add("cfm", Role.GENERATOR, "Flow-matching generator trained on the sample", learn, [sample])
    generated = analyze.Request(
        events_path=learn.output_path,
        generation_result_path=f"steps/{learn_id}/result.json",
        analysis=workflow.analysis,
        process_label=f"CFM generator trained on {label}",
        sqrt_s_gev=workflow.beams.sqrt_s_gev,
        out_dir="hists/generated",
    )
    chain.add("analyze_generated", Role.ANALYST, "The same selection on generated events", generated, [learn_id])
    truth, truth_step, against = chain.events_path, sample, "the sample"
    if "reference" in seeds:
        reference = generate.model_copy(
            update={
                "seed": seeds["reference"],
                "root_path": "events/reference.root",
                "hepmc_path": None,  # the classifier reads the ROOT file only
            }
        )
        description = "Independent Pythia8 sample for the classifier test (same settings, its own seed)"
        truth, truth_step = reference.root_path, chain.add("reference", Role.GENERATOR, description, reference, [])
        against = "an independent sample"
    test = classifier_test.Request(
        generated_path=learn.output_path,
        reference_path=truth,
        collection=spec.collection,
        training=classifier_test.Request.model_fields["training"].default.model_copy(
            update={"epochs": spec.classifier_epochs}
        ),
        seed=seeds["classifier"],
    )
    chain.add(
        "classifier", Role.ANALYST, f"Classifier two-sample test, generated vs {against}", test, [learn_id, truth_step]
    )


def _hepmc_of(generate: pythia8_generate.Request) -> str:
    """The HepMC3 file a merge or Delphes reads; a generation planned for them always writes one."""
    if generate.hepmc_path is None:
        msg = f"this step reads the generation's HepMC3 file, but the generation writes {generate.root_path} only"
        raise ValueError(msg)
    return generate.hepmc_path


def _producer(chain: Chain) -> str:
    """The step that wrote the events the next analysis reads."""
    return chain.sample_step
