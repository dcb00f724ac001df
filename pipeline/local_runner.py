"""Runs the prodcat pipeline on this machine: LocalDagRunner, Beam DirectRunner (or PortableRunner), SQLite ML Metadata."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tfx import v1 as tfx

from prodcat.config import Config, ConfigError
from prodcat.pipeline import portable_beam
from prodcat.pipeline.pipeline import PipelineInputs, create_pipeline
from prodcat.pipeline.progress import reporting_progress
from prodcat.records import RecordError
from prodcat.readers import SUPPORTED_SUFFIXES
from prodcat.taxonomy import Taxonomy, load_taxonomy

_LOG = logging.getLogger(__name__)
# `prodcat run` mutes the root logger to silence libraries; what this module says is for the user.
_LOG.setLevel(logging.INFO)
LOCK_FILE = ".prodcat-run.lock"


@dataclasses.dataclass(frozen=True)
class Preflight:
    products: int
    rejected: int
    examples: list[str]
    with_image: int = 0


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    config: Config
    taxonomy: Taxonomy
    inputs: PipelineInputs
    preflight: Preflight


def stage_taxonomy(taxonomy: Taxonomy, output_dir: Path) -> str:
    """Writes the taxonomy under a content-addressed path inside the run's output.

    Components read it by path; since the path changes whenever the content does, TFX's cache
    can never reuse an artifact built from a different taxonomy.
    """
    path = output_dir / "taxonomy" / taxonomy.fingerprint() / "taxonomy.txt"
    if not path.exists():
        taxonomy.save(path)
    return str(path)


def resolve_data(config: Config, taxonomy: Taxonomy) -> tuple[str, str]:
    """(directory, glob) of the products to ingest; generates the demo dataset when none is set."""
    if config.data is None:
        from prodcat.synth import write_demo_dataset

        synth = config.demo.synth_config()
        data_dir = config.output_path / "demo_data" / f"{taxonomy.fingerprint()}-{_demo_key(synth)}"
        products = data_dir / "products.jsonl"
        if not products.exists():
            write_demo_dataset(taxonomy, data_dir, synth)
        return str(data_dir), "*.jsonl"
    data = Path(config.data).expanduser().resolve()
    if data.is_dir():
        if not any(p.suffix.lower() in SUPPORTED_SUFFIXES for p in data.iterdir()):
            raise RecordError(str(data), None, None, f"no product files ({', '.join(SUPPORTED_SUFFIXES)}) in directory")
        return str(data), "*"
    if not data.exists():
        raise RecordError(str(data), None, None, "file not found")
    return str(data.parent), data.name


def with_reviews(config: Config, taxonomy: Taxonomy, data_root: str, pattern: str) -> tuple[str, str]:
    """The products relabelled by the decisions in `review.logs` (see prodcat.review.corrections)."""
    from prodcat.readers import input_files
    from prodcat.review.corrections import apply_reviews, data_files

    if config.split.method == "files":
        raise ConfigError("review.logs: reviewed labels need split.method auto, shop or hash (the files split keeps "
                          "the data's own train/eval files)")
    files = data_files(data_root, [pattern]) or input_files(data_root)
    corrected = apply_reviews(data_root, files, config.review.logs, taxonomy, config.output_path / "reviewed_data",
                              config.ingest.read_options())
    _LOG.info("reviewed labels from %d review log(s): %d products relabelled, %d added (%s)",
              len(config.review.logs), corrected.overridden, corrected.added, corrected.data_root)
    return corrected.data_root, corrected.pattern


def _demo_key(synth: object) -> str:
    import hashlib

    return hashlib.sha256(repr(synth).encode()).hexdigest()[:10]


def prepare(config: Config) -> PreparedRun:
    """Loads the taxonomy, finds (or generates) the data, checks every record, settles `auto` settings."""
    taxonomy = load_taxonomy(config.taxonomy)
    data_root, pattern = resolve_data(config, taxonomy)
    checked = preflight(config, taxonomy, data_root, pattern)  # a bad input writes nothing in the output directory
    if config.review.logs:
        data_root, pattern = with_reviews(config, taxonomy, data_root, pattern)
        checked = preflight(config, taxonomy, data_root, pattern)
    config.output_path.mkdir(parents=True, exist_ok=True)
    inputs = PipelineInputs(data_root, pattern, stage_taxonomy(taxonomy, config.output_path))
    if config.image.mode == "auto":
        mode = "on" if checked.with_image else "off"
        config = config.model_copy(update={"image": config.image.model_copy(update={"mode": mode})})
    return PreparedRun(config, taxonomy, inputs, checked)


def preflight(config: Config, taxonomy: Taxonomy, data_root: str, data_pattern: str) -> Preflight:
    """Reads every input record once before the DAG starts, with the executor's own rules.

    A user with a broken file learns which record and field is wrong in seconds, in plain words,
    instead of from a Beam stack trace minutes into the run; with `fail`, the error names the first
    bad record and how many there are in all, so one run tells how big the problem is. With
    `quarantine`, bad records are counted here and written to the rejects file by ExampleGen.
    """
    from prodcat.contract.examples import TFRECORD_READERS
    from prodcat.records import resolve_category
    from prodcat.readers import input_files, iter_numbered_products

    quarantine = config.ingest.on_bad_record == "quarantine"
    root = Path(data_root)
    patterns = ([config.split.train_pattern, config.split.eval_pattern] if config.split.method == "files"
                else [data_pattern])
    files = sorted({p for pattern in patterns for p in root.glob(pattern) if p.suffix.lower() in SUPPORTED_SUFFIXES})
    if config.split.method == "files":
        for pattern in patterns:
            if not any(root.glob(pattern)):
                raise RecordError(str(root), None, None, f"split.method is 'files' but no file matches {pattern!r}")
    if not files:
        files = input_files(root)
    products, with_image, rejects = 0, 0, []
    options, seen_ids = config.ingest.read_options(), {}  # ExampleGen's limits, and duplicates across files
    for path in files:
        for line, product in iter_numbered_products(path, rejects, options=options, seen_ids=seen_ids,
                                                    extra_readers=TFRECORD_READERS):
            try:
                resolve_category(product, taxonomy, str(path), line, require=True)
            except RecordError as error:
                rejects.append(error)
                continue
            products += 1
            with_image += product.image is not None
    if rejects and not quarantine:
        first = rejects[0]
        count = "the only bad record" if len(rejects) == 1 else f"the first of {len(rejects):,} bad records"
        raise RecordError(first.source, first.line, first.field,
                          f"{first.reason} ({count}; ingest.on_bad_record: quarantine trains on the good ones "
                          "and lists the bad)", record_id=first.record_id)
    if products == 0:
        raise RecordError(str(root), None, None, "no usable products to train on")
    return Preflight(products, len(rejects), [str(e) for e in rejects[:5]], with_image)


def run(prepared: PreparedRun, verbose: bool = True) -> float:
    """Runs the DAG to completion, then writes its report (`<output>/report/`); returns the DAG's wall time in seconds.

    With `beam.runner: portable`, Beam's job service and worker pool run for the DAG's duration.

    Without `verbose`, the libraries' logs give way to one progress line per component start and end.
    """
    with exclusive_output(prepared.config), run_scoped_tempdir(), portable_beam.services_for(prepared.config.beam):
        fail_orphaned_executions(prepared.config.metadata_path)
        pipeline = create_pipeline(prepared.config, prepared.inputs)
        started = time.time()
        with reporting_progress([c.id for c in pipeline.components], prepared.config.metadata_path, verbose):
            tfx.orchestration.LocalDagRunner().run(pipeline)
        wall = time.time() - started
        from prodcat.reporting.report import write_run_report

        write_run_report(prepared.config)
    return wall


@contextlib.contextmanager
def run_scoped_tempdir() -> Iterator[Path]:
    """Sends this process's temporary files to a directory that is removed when the run ends.

    Every Beam component of a TFX run repackages the installed TFX into a fresh temporary directory
    (an sdist for remote Beam workers, about 42 MB, never deleted); the DirectRunner does not use
    it, and a few dozen runs fill a disk. Scoping the run's temp files removes that and any other
    leftover at once. The TF Hub download cache, which defaults to the temp directory, keeps its
    usual place so a hub encoder is not downloaded again on every run.
    """
    outer = tempfile.gettempdir()
    hub_cache_was_set = "TFHUB_CACHE_DIR" in os.environ
    os.environ.setdefault("TFHUB_CACHE_DIR", os.path.join(outer, "tfhub_modules"))
    scoped = Path(tempfile.mkdtemp(prefix="prodcat-run-", dir=outer))
    saved, tempfile.tempdir = tempfile.tempdir, str(scoped)
    try:
        yield scoped
    finally:
        tempfile.tempdir = saved
        if not hub_cache_was_set:
            os.environ.pop("TFHUB_CACHE_DIR", None)
        shutil.rmtree(scoped, ignore_errors=True)


class OutputInUseError(ConfigError):
    """Another prodcat run is using the same output directory right now (a user error: one line, exit 2)."""


@contextlib.contextmanager
def exclusive_output(config: Config) -> Iterator[None]:
    """Holds an exclusive lock on the output directory (its metadata, artifacts, serving path) during a run.

    Two runs writing one SQLite ML Metadata store and one model base path would interleave their
    records; the second fails at once instead. The lock is the kernel's (flock), so a run killed by
    any signal releases it. Holding it also means no other run is alive on this output, which is
    what lets `fail_orphaned_executions` call every unfinished execution orphaned.
    """
    import fcntl

    config.output_path.mkdir(parents=True, exist_ok=True)
    path = config.output_path / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputInUseError(
                f"another prodcat run (pid {holder}) is using {config.output_path}; wait for it or use another --output"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fail_orphaned_executions(metadata_path: Path) -> list[int]:
    """Marks the executions a killed run left unfinished (NEW or RUNNING) as FAILED; returns their ids.

    A run killed outright (SIGKILL, power loss, OOM killer) cannot record its own failure, so ML
    Metadata would show the component running forever. Rerunning is safe without this (TFX starts
    a new execution in the new run, publishes an execution's outputs only when it succeeds and takes
    cache hits only from successful executions, so a killed component's partial files are never
    read), but every record of the old run would keep saying "running". Call only while holding
    `exclusive_output`: then no execution of this store can still be alive.
    """
    if not Path(metadata_path).exists():
        return []
    import ml_metadata as mlmd
    from ml_metadata import errors as mlmd_errors
    from tfx.orchestration import metadata
    from tfx.orchestration.portable import execution_publish_utils
    from tfx.orchestration.portable.mlmd import execution_lib
    from tfx.proto.orchestration import execution_result_pb2

    aborted = 10  # google.rpc.Code.ABORTED, as TFX records executor errors
    orphaned = []
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(str(metadata_path))) as handle:
        unfinished = handle.store.get_executions(list_options=mlmd.ListOptions(
            filter_query="last_known_state = NEW OR last_known_state = RUNNING"))
        for execution in unfinished:
            if not execution_lib.is_execution_active(execution):  # as TFX itself decides
                continue
            try:
                contexts = handle.store.get_contexts_by_execution(execution.id)
            except mlmd_errors.NotFoundError:  # an execution registered without contexts
                contexts = []
            node = next((c.name.split(".", 1)[-1] for c in contexts if c.type == "node"), execution.type)
            message = (f"orphaned: the run that started execution {execution.id} ({node}) ended without finishing it "
                       "(killed?); marked failed before the next run")
            execution_publish_utils.publish_failed_execution(
                handle, contexts=[], execution_id=execution.id,
                executor_output=execution_result_pb2.ExecutorOutput(
                    execution_result=execution_result_pb2.ExecutionResult(code=aborted, result_message=message)))
            _LOG.warning("execution %d of %s was left unfinished by an interrupted run: marked FAILED; "
                         "its partial output is not used", execution.id, node)
            orphaned.append(execution.id)
    return orphaned


def clean(config: Config) -> None:
    """Forgets previous runs of this output directory (metadata, artifacts, pushed models)."""
    for path in (config.pipeline_root, config.metadata_path, config.serving_base):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
