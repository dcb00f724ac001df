"""The whole pipeline with the data components on Beam's portable runner, against the DirectRunner.

`prodcat run` runs the demo config of the session's `demo_run` with `beam.runner: portable`:
ExampleGen, StatisticsGen, Transform and the Evaluator then run as jobs of Beam's local job
service, their code unpickled in SDK worker processes of the worker pool the run started
(prodcat.pipeline.portable_beam). The Trainer is not a Beam component; it trains on what the Beam
stages wrote.

Both are compared with a DirectRunner run of the same config that is also a fresh `prodcat run`
process in its own output directory: other tests run more pipelines in `demo_run`'s (a degraded
model, other data), and a training's result depends on what its process trained before (measured: a portable run trained in the pytest process right after
`demo_run`'s training served 7 of 177 eval products another category than `demo_run`'s model; as
fresh processes, the two runners' models served the same 177).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from prodcat import features as F
from prodcat.components import nodes
from prodcat.config import Config
from prodcat.readers import read_products
from prodcat.reporting.summary import RunSummary, latest_run_summary
from prodcat.serving.predict import Predictor

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
# ExampleGen, StatisticsGen, Transform, Evaluator: one Beam job each (ExampleValidator, the
# Trainer and the Pusher use no Beam).
BEAM_COMPONENTS = 4


@dataclasses.dataclass(frozen=True)
class CliRun:
    config: Config
    log: str  # `prodcat run --verbose`'s output, Beam's driver logs included

    @property
    def products_path(self) -> Path:
        return next((self.config.output_path / "demo_data").glob("*/products.jsonl"))


def _prodcat_run(demo_config: Config, runner: str, work: Path) -> CliRun:
    """`prodcat run` of `demo_config` with `beam.runner: runner`, in its own process."""
    config = demo_config.model_copy(update={
        "output_dir": str(work / "out"), "beam": demo_config.beam.model_copy(update={"runner": runner})})
    config_path = work / "config.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run([sys.executable, "-m", "prodcat.cli", "run", "--config", str(config_path), "--verbose"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    (work / "run.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return CliRun(config, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def portable_run(demo_run, tmp_path_factory: pytest.TempPathFactory) -> CliRun:  # noqa: ANN001
    return _prodcat_run(demo_run.config, "portable", tmp_path_factory.mktemp("portable_run"))


@pytest.fixture(scope="module")
def direct_run(demo_run, tmp_path_factory: pytest.TempPathFactory) -> CliRun:  # noqa: ANN001
    return _prodcat_run(demo_run.config, "direct", tmp_path_factory.mktemp("direct_run"))


def _examples(summary: RunSummary, node: str, key: str, split: str) -> list[tf.train.Example]:
    """The tf.Examples of one split of a component's output."""
    (uri,) = summary.component(node).outputs[key]
    files = sorted(str(p) for p in (Path(uri) / f"Split-{split}").glob("*.gz"))
    assert files, f"no {node} {key} files for split {split}"
    return [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(files, "GZIP").as_numpy_iterator()]


def _multiset(examples: list[tf.train.Example]) -> Counter[bytes]:
    """As a multiset: the files' order is the runner's, and a feature map's serialized order is arbitrary."""
    return Counter(e.SerializeToString(deterministic=True) for e in examples)


def _split_embedding(examples: list[tf.train.Example]) -> list[tuple[bytes, tuple[float, ...]]]:
    """(the example without its text embedding, the embedding), sorted so both runs pair up product by product."""
    rows = []
    for example in examples:
        rest = tf.train.Example()
        rest.CopyFrom(example)
        embedding = tuple(rest.features.feature[F.TEXT_EMBEDDING].float_list.value)
        del rest.features.feature[F.TEXT_EMBEDDING]
        rows.append((rest.SerializeToString(deterministic=True), embedding))
    return sorted(rows)


def test_the_beam_stages_ran_as_portable_jobs_and_the_model_was_pushed(portable_run: CliRun, direct_run: CliRun) -> None:
    summary = latest_run_summary(portable_run.config.metadata_path)
    assert all(c.state == "complete" for c in summary.components), [(c.node_id, c.state) for c in summary.components]
    assert summary.blessed is True and summary.pushed_version_dir
    # The PortableRunner logs each job's states as the job service reports them; the DirectRunner has no jobs.
    assert portable_run.log.count("Job state changed to DONE") == BEAM_COMPONENTS
    assert "Job state changed to FAILED" not in portable_run.log
    assert "Job state changed" not in direct_run.log


def test_the_beam_stages_wrote_what_the_direct_runner_wrote(portable_run: CliRun, direct_run: CliRun) -> None:
    assert portable_run.config.output_path != direct_run.config.output_path
    assert portable_run.products_path.read_bytes() == direct_run.products_path.read_bytes(), \
        "the demo data is generated again, identically"
    direct, portable = (latest_run_summary(run.config.metadata_path) for run in (direct_run, portable_run))
    for split in ("train", "eval"):
        assert _multiset(_examples(portable, nodes.EXAMPLE_GEN, "examples", split)) == \
            _multiset(_examples(direct, nodes.EXAMPLE_GEN, "examples", split))
        # The Transform graph's text encoder computes in float32 over the batch it is given, and the
        # result depends on the batch's composition in the last bits (measured: the same titles
        # encoded in batches of 256 and of 32 differ by up to 1.1e-7). TFT applies the graph to the
        # batches the runner's bundles make, which differ between the in-process DirectRunner and the
        # job service's FnApiRunner; every other transformed feature is exactly equal.
        got, expected = (_split_embedding(_examples(s, nodes.TRANSFORM, "transformed_examples", split))
                         for s in (portable, direct))
        assert [rest for rest, _ in got] == [rest for rest, _ in expected]
        assert [e for _, e in got] == [pytest.approx(e, abs=1e-6) for _, e in expected]
    direct_graph, portable_graph = (Path(s.component(nodes.TRANSFORM).outputs["transform_graph"][0])
                                    for s in (direct, portable))
    schema = Path("transformed_metadata") / "schema.pbtxt"
    assert (portable_graph / schema).read_bytes() == (direct_graph / schema).read_bytes()


def test_the_pushed_model_predicts_the_eval_split_as_the_direct_runs(portable_run: CliRun, direct_run: CliRun) -> None:
    """Same categories, paths and depths for every eval product; confidences within 1e-5, not bit-equal.

    The Trainer's inputs differ in the text embedding's last bits (see above), and training carries
    that into the weights: on the demo data (5 epochs) the confidences differed by up to 2e-6 (they
    are rounded to 6 decimals) and no category, path or depth changed.
    """
    direct = latest_run_summary(direct_run.config.metadata_path)
    eval_ids = {e.features.feature[F.ID].bytes_list.value[0].decode()
                for e in _examples(direct, nodes.EXAMPLE_GEN, "examples", "eval")}
    products = [p for p in read_products(direct_run.products_path) if p.id in eval_ids]
    assert len(products) == len(eval_ids) > 100
    expected = Predictor(direct_run.config.serving_base).predict(products, full_depth=True)
    got = Predictor(portable_run.config.serving_base).predict(products, full_depth=True)

    def answer(prediction) -> tuple:  # noqa: ANN001
        return prediction.id, prediction.category_id, prediction.category_path, prediction.depth, \
            [(level.id, level.name) for level in prediction.levels]

    assert [answer(p) for p in got] == [answer(p) for p in expected]
    assert [level.confidence for p in got for level in p.levels] == pytest.approx(
        [level.confidence for p in expected for level in p.levels], abs=1e-5)
    metrics = latest_run_summary(portable_run.config.metadata_path).metrics  # the Evaluator's, run as a portable job
    assert metrics["example_count"] == direct.metrics["example_count"] == len(products)
    for name in ("hierarchical_f1", "coverage", "accuracy_level_1"):
        assert metrics[name] == pytest.approx(direct.metrics[name], abs=1e-4), name
