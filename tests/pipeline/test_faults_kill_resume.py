"""Killing the real pipeline mid-component, then rerunning it.

`prodcat run` runs as a separate process, in its own process group, on a small real config. The
test watches the pipeline root for the execution directory of Transform (then of the Trainer)
and, as soon as that execution has written some partial output, SIGKILLs the whole group: no
handler runs, nothing is cleaned up, ML Metadata is left exactly as the kill found it. The three
attempts share one output directory (pipeline root, SQLite ML Metadata, serving base):

1. killed while Transform executes;
2. rerun, killed while the Trainer executes;
3. rerun to completion.

Then, from ML Metadata: what had completed before a kill is reused from the cache, never run again;
a killed execution published nothing, nothing consumed its partial files, and it ends FAILED
(the local runner marks executions left RUNNING by a dead run); the last run blesses and pushes a
model that loads and answers.
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from faults_fixtures import Store, read_store

from prodcat.config import Config

REPO = Path(__file__).resolve().parents[2]
ATTEMPT_TIMEOUT_S = 1800  # per attempt; a full run is a few minutes on 2 free cores
UPSTREAM = ("ProductExampleGen", "StatisticsGen", "ImportSchemaGen")


# ------------------------------------------------------------------------------------ the runs
@dataclasses.dataclass
class Attempt:
    killed_node: str | None          # None: ran to completion
    killed_execution: int | None
    partial_files: list[str]         # what the killed execution had written when it was killed
    seconds: float
    cpu_seconds: float               # of the runner's process tree
    returncode: int
    log: str
    store: Store                     # ML Metadata right after the attempt ended


@dataclasses.dataclass
class FaultedRuns:
    config: Config
    attempts: list[Attempt]


def _execution_dirs(node_dir: Path) -> dict[str, list[Path]]:
    """Execution id -> its output directories (`<root>/<node>/<output key>/<execution id>/`)."""
    found: dict[str, list[Path]] = {}
    for path in node_dir.glob("*/*"):
        if path.is_dir() and path.name.isdigit() and not path.parent.name.startswith("."):
            found.setdefault(path.name, []).append(path)
    return found


def _attempt(config_path: Path, config: Config, log_path: Path, kill_in: str | None) -> Attempt:
    """Runs `prodcat run` in its own process group; with `kill_in`, SIGKILLs the group once that node's
    new execution has written a file of its output."""
    node_dir = config.pipeline_root / kill_in if kill_in else None
    known = set(_execution_dirs(node_dir)) if node_dir else set()
    # A killed run cannot remove its temp files: keep them beside its log, inside the test's tmp dir.
    temp = log_path.with_suffix(".tmp")
    temp.mkdir(exist_ok=True)
    # TensorFlow's C++ log level is left to the CLI, as for a user (it mutes the CUDA factory lines).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONUNBUFFERED="1", TF_USE_LEGACY_KERAS="1", TMPDIR=str(temp))
    started, cpu = time.monotonic(), _children_cpu()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "-m", "prodcat.cli", "run", "--config", str(config_path)],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        killed, partial = None, []
        try:
            while process.poll() is None and time.monotonic() - started < ATTEMPT_TIMEOUT_S:
                if node_dir is not None and node_dir.is_dir():
                    for execution_id, dirs in _execution_dirs(node_dir).items():
                        files = [p for d in dirs for p in d.rglob("*") if p.is_file()]
                        if execution_id not in known and files:
                            os.killpg(process.pid, signal.SIGKILL)
                            killed, partial = int(execution_id), [str(p) for p in files]
                            break
                    if killed is not None:
                        break
                time.sleep(0.2)
        finally:
            if process.poll() is None and killed is None:  # timed out, or the test itself failed
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if kill_in and killed is None:
        pytest.fail(f"{kill_in} never started executing (exit {process.returncode} after {seconds:.0f} s):\n{text[-3000:]}")
    return Attempt(kill_in, killed, partial, seconds, cpu, process.returncode, text, read_store(config.metadata_path))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def faulted(tmp_path_factory: pytest.TempPathFactory, google_taxonomy_path: Path) -> FaultedRuns:
    """Kill during Transform, rerun and kill during the Trainer, rerun to the end: one output directory."""
    work = tmp_path_factory.mktemp("faults")
    settings = {
        "pipeline_name": "prodcat-faults",
        "output_dir": str(work / "out"),
        "taxonomy": str(google_taxonomy_path),
        "demo": {"n_products": 300, "n_categories": 8, "n_shops": 4, "seed": 5},
        # The real pipeline and encoder, small: fewer hash buckets and no label embeddings of all
        # 5,595 categories make the Trainer, Evaluator and Pusher several times cheaper.
        "text": {"word_buckets": 16384, "merchant_buckets": 1024},
        "model": {"epochs": 3, "label_semantics": False},
        # Three epochs on 300 products leave the model unsure below level 1: the default floors
        # (0.3 / 0.7 / 0.9) would withhold most deeper levels and the served-hF1 gate block it.
        # This test is about killing and resuming runs; the floors of a fully trained model are not.
        "thresholds": {"per_level": [0.3]},
    }
    config_path = work / "faults.yaml"
    config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    config = Config.model_validate(settings)
    attempts = []
    for number, kill_in in enumerate(("Transform", "Trainer", None), start=1):
        attempts.append(_attempt(config_path, config, work / f"attempt{number}.log", kill_in))
    for number, attempt in enumerate(attempts, start=1):
        cached = sorted(n for n, e in attempt.store.runs[-1].items() if e.state == "cached")
        print(f"attempt {number}: {attempt.seconds:.1f} s (cpu {attempt.cpu_seconds:.1f} s), exit {attempt.returncode}, "
              f"killed {attempt.killed_node or '-'} (execution {attempt.killed_execution}), cached {cached}")
    return FaultedRuns(config, attempts)


# ------------------------------------------------------------------------------------ tests
@pytest.mark.e2e
def test_each_kill_lands_inside_the_component_and_publishes_nothing(faulted: FaultedRuns) -> None:
    for attempt in faulted.attempts[:2]:
        assert attempt.returncode == -signal.SIGKILL
        run = attempt.store.runs[-1]
        killed = run[attempt.killed_node]
        # Right after the kill, ML Metadata shows what TFX leaves behind: the execution still RUNNING,
        # with no output published, while its partial files sit on disk.
        assert killed.id == attempt.killed_execution and killed.state == "running", killed
        assert killed.outputs == {}, f"a killed execution published outputs: {killed}"
        assert attempt.partial_files, "the kill came after the execution had written output"
        assert not any(Path(f).name == "saved_model.pb" and "/model/" in f for f in attempt.partial_files)
        downstream = {"Transform": "Trainer", "Trainer": "Evaluator"}[attempt.killed_node]
        assert downstream not in run, f"{downstream} ran although {attempt.killed_node} never finished"


@pytest.mark.e2e
def test_completed_components_are_reused_from_the_cache(faulted: FaultedRuns) -> None:
    first, second, third = (a.store.runs[-1] for a in faulted.attempts)
    for before, after in ((first, second), (second, third)):
        finished = {n for n, e in before.items() if e.state in ("complete", "cached") and n != "latest_blessed_model_resolver"}
        changed = {n: sorted(k for k in {*before[n].properties, *after[n].properties}
                             if before[n].properties.get(k) != after[n].properties.get(k))
                   for n in finished if after[n].state != "cached"}
        # A miss with changed properties means the config or code changed between the attempts
        # (someone edited the checkout while this test ran); with none, the cache failed.
        assert not changed, f"completed before the kill but not reused: {changed}"
    assert all(second[n].state == "cached" for n in UPSTREAM), second
    assert second["Transform"].state == "complete" and second["Transform"].id != first["Transform"].id
    assert third["Transform"].state == "cached"
    assert [third[n].state for n in ("Trainer", "Evaluator", "Pusher")] == ["complete"] * 3
    # Over the three attempts every component ran to completion exactly once.
    store = faulted.attempts[-1].store
    for node in (*UPSTREAM, "Transform", "Trainer", "Evaluator", "Pusher"):
        assert [e.state for e in store.executions if e.node == node].count("complete") == 1, node


@pytest.mark.e2e
def test_killed_executions_end_failed_and_their_partial_output_is_never_consumed(faulted: FaultedRuns) -> None:
    store = faulted.attempts[-1].store
    executions = {e.id: e for e in store.executions}
    killed = {a.killed_execution: a for a in faulted.attempts if a.killed_execution is not None}
    for execution_id, attempt in killed.items():
        execution = executions[execution_id]
        assert execution.state == "failed" and execution.result_message.startswith("orphaned"), execution
        assert execution.outputs == {}
        # The next attempt's runner said so.
        next_attempt = faulted.attempts[faulted.attempts.index(attempt) + 1]
        assert f"execution {execution_id} of {attempt.killed_node} was left unfinished" in next_attempt.log
    # No artifact anywhere lives in a killed execution's directories...
    for uri in store.uris.values():
        assert not any(f"/{a.killed_node}/" in uri and uri.rstrip("/").endswith(f"/{i}") for i, a in killed.items()), uri
    # ...and everything any execution consumed was produced by an execution that completed.
    for execution in store.executions:
        for key, ids in execution.inputs.items():
            for artifact_id in ids:
                producers = store.producers(artifact_id)
                assert producers, f"{execution.node}.{key}: artifact {artifact_id} has no producer"
                assert {p.state for p in producers} <= {"complete", "cached"}, (execution.node, key, producers)
                assert "complete" in {p.state for p in producers}
    # The model that was trained, evaluated and pushed, and what it was trained on.
    second, third = store.runs[-2], store.runs[-1]
    trainer = third["Trainer"]
    assert trainer.inputs["transform_graph"] == second["Transform"].outputs["transform_graph"]
    assert trainer.inputs["examples"] == second["Transform"].outputs["transformed_examples"]
    assert third["Evaluator"].inputs["model"] == trainer.outputs["model"]
    assert third["Pusher"].inputs["model"] == trainer.outputs["model"]
    graph_uri = store.uris[trainer.inputs["transform_graph"][0]]
    assert graph_uri.endswith(f"/Transform/transform_graph/{second['Transform'].id}")


@pytest.mark.e2e
def test_final_run_blesses_and_pushes_a_loadable_model(faulted: FaultedRuns, google_taxonomy) -> None:
    from prodcat.readers import read_products
    from prodcat.reporting.summary import latest_run_summary
    from prodcat.serving.predict import Predictor

    last = faulted.attempts[-1]
    assert last.returncode == 0, last.log[-3000:]
    config = faulted.config
    summary = latest_run_summary(config.metadata_path)
    assert summary.blessed is True, summary.gate_failures
    entries = sorted(p.name for p in config.serving_base.iterdir())
    assert len(entries) == 1 and entries[0].isdigit(), f"one complete version and nothing else: {entries}"
    assert summary.pushed_version_dir and Path(summary.pushed_version_dir) == config.serving_base / entries[0]
    products = read_products(next(config.output_path.glob("demo_data/*/products.jsonl")))[:50]
    predictions = Predictor(config.serving_base).predict(products, full_depth=True)
    right = 0
    for product, prediction in zip(products, predictions, strict=True):
        ids = [level.id for level in prediction.levels]
        assert ids and google_taxonomy.ancestors(ids[-1]) == ids
        right += ids[0] == google_taxonomy.ancestors(product.category)[0]
    assert right / len(products) > 0.8


@pytest.mark.e2e
def test_the_run_reports_each_component_as_it_starts_and_ends(faulted: FaultedRuns) -> None:
    """What `prodcat run` shows a user: the cached components of the earlier attempts, the ones
    that ran with their time and key figure, every epoch, and no library noise in between."""
    log = faulted.attempts[-1].log
    lines = log.splitlines()
    assert re.search(r"^prodcat: \[\d/9\] StatisticsGen cached \(reused from an earlier run\): train [\d,]+ products, "
                     r"eval [\d,]+ products$", log, re.M), log[-3000:]
    assert re.search(r"^prodcat: \[\d/9\] Trainer done in [\d.]+ s: \d+ epochs$", log, re.M), log[-3000:]
    assert re.search(r"^prodcat: epoch 1 of 3: loss [\d.]+ val_loss [\d.]+ val accuracy L1=", log, re.M), log[-3000:]
    assert re.search(r"^prodcat: \[\d/9\] Evaluator done in [\d.]+ s: blessed$", log, re.M), log[-3000:]
    assert re.search(r"^prodcat: \[9/9\] Pusher done in [\d.]+ s: pushed$", log, re.M), log[-3000:]
    started = [line for line in lines if line.endswith(" ...")]
    assert len(started) == 9, started
    summary_at = next(i for i, line in enumerate(lines) if line.startswith("prodcat run "))
    noise = [line for line in lines[:summary_at] if not line.startswith("prodcat:")]
    assert not noise, noise[:10]
