"""The whole analysis: files, the HTML report's figures, and one analysis run per experiment."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from mlflow import MlflowClient

from analysis.distortion.data import load_distortion_data
from analysis.distortion.html import referenced_files
from analysis.distortion.laws import LawSettings
from analysis.distortion.report import ANALYSIS_KIND, DistortionSettings, compute_tables, run_distortion_analysis
from analysis.distortion.stopping import default_phi0
from configs import metrics as M
from configs.runs import analysis_filter
from tests.unit.analysis.distortion.conftest import STEPS, UNTRAINED_LOSS, _anchor_history, log_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = LawSettings(num_resamples=4)


def _check_html(html: Path) -> None:
    """Every embedded image is a PNG; every relative link exists; every PNG is shown."""
    images, links = referenced_files(html.read_text(encoding="utf-8"))
    assert images and all(image.startswith(PNG_MAGIC) for image in images)
    assert links and all((html.parent / link).is_file() for link in links), links
    pngs = sorted(p.name for p in html.parent.glob("*.png"))
    assert sorted(link for link in links if link.endswith(".png")) == pngs
    assert len(images) == len(pngs)


def test_anchor_report_has_every_part_and_one_analysis_run(
        mlflow_uri: str, anchor_experiment: str, tmp_path: Path) -> None:
    settings = DistortionSettings(phi0=0.7, laws=FAST)
    report = run_distortion_analysis(mlflow_uri, anchor_experiment, tmp_path / "out", settings)
    names = {p.name for p in report.files}
    assert {"trajectories.png", "path.png", "phi.png", "metastable.png", "pareto.png", "ratedist.png",
            "stopping.csv", "phi_by_phase.csv", "rebalancing.csv", "laws.csv", "distortion_summary.json",
            "distortion_report.html"} <= names
    assert "excess.png" not in names  # no floors on the anchor task
    _check_html(report.html)
    summary = json.loads((tmp_path / "out" / "distortion_summary.json").read_text())
    assert summary["phi0"] == 0.7 and summary["domains"] == ["id", "ood"]
    assert (summary["phi_form"], summary["tstar_after"]) == ("retained_gain", 0.5)
    assert {r["phase"] for r in summary["tables"]["phi_by_phase"]} == {2, 3}

    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(anchor_experiment).experiment_id
    first = client.search_runs([experiment_id], analysis_filter(ANALYSIS_KIND))
    assert [r.info.run_id for r in first] == [report.analysis_run_id]
    artifacts = {a.path for a in client.list_artifacts(report.analysis_run_id)}
    assert {"distortion_report.html", "phi.png", "source_runs.json"} <= artifacts
    assert first[0].data.metrics["num_runs"] == 4
    links = json.loads(Path(client.download_artifacts(report.analysis_run_id, "source_runs.json",
                                                      str(tmp_path))).read_text())
    # each link names its trial run as the MLflow UI does
    assert [(r["run_id"], r["run_name"]) for r in links["runs"]] == [
        (run_id, client.get_run(run_id).info.run_name) for run_id in links["run_ids"]]
    assert len(links["runs"]) == 4 and all(r["run_name"] for r in links["runs"])

    # unchanged runs and settings give byte-identical files: MLflow's run is kept as it is
    again = run_distortion_analysis(mlflow_uri, anchor_experiment, tmp_path / "out2", settings)
    assert again.analysis_run_id == report.analysis_run_id
    other = run_distortion_analysis(mlflow_uri, anchor_experiment, tmp_path / "out3", replace(settings, phi0=0.6))
    after = client.search_runs([experiment_id], analysis_filter(ANALYSIS_KIND))
    assert [r.info.run_id for r in after] == [other.analysis_run_id] != [report.analysis_run_id]


def test_ladder_report_with_floors_laws_and_a_domain_subset(mlflow_uri: str, ladder_experiment: str,
                                                             tmp_path: Path) -> None:
    settings = DistortionSettings(phi0=-0.1, domains=("lang1",), laws=FAST)
    report = run_distortion_analysis(mlflow_uri, ladder_experiment, tmp_path, settings, log_to_mlflow=False)
    assert report.analysis_run_id is None
    names = {p.name for p in report.files}
    assert "excess.png" in names and "path.png" not in names and "phi.png" not in names  # one domain, no φ
    _check_html(report.html)
    assert report.tables["laws"]["domain"].tolist() == ["lang1"]
    assert report.tables["metastable_points"].empty and report.tables["phi_by_phase"].empty


def test_the_default_phi0_is_the_median_of_the_sweeps_phi(mlflow_uri: str, anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    phi0 = default_phi0(data.history[M.PHI_WEIGHT])
    tables = compute_tables(data, DistortionSettings(laws=FAST), phi0)
    assert phi0 == tables["metastable_points"]["phi"].median()
    assert tables["metastable_points"]["in_region"].mean() >= 0.5


def test_one_run_per_budget_draws_no_pareto_figure_and_says_why(
        mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    for i, (n, flops) in enumerate([(1e5, 1.2e12), (1e6, 1.2e13)]):  # budgets 10× apart: two groups of one run
        history = _anchor_history(0.1 * i, 1.0)
        final = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: 2e6, M.TOTAL_FLOPS: flops, M.INIT_PROBE_LOSS: UNTRAINED_LOSS,
                 M.INIT_VAL_LOSS: UNTRAINED_LOSS, M.init_distortion_key("id"): UNTRAINED_LOSS,
                 M.ID_ACC_BEST: max(history[M.ID_ACC]), M.OOD_ACC_BEST: max(history[M.OOD_ACC])}
        log_run(client, experiment_id, f"b{i}", {"model.d_model": 64 * (i + 1), "seed": 0}, history, STEPS, final)
    report = run_distortion_analysis(mlflow_uri, mlflow_experiment, tmp_path, DistortionSettings(phi0=0.7, laws=FAST),
                                     log_to_mlflow=False)
    assert len(report.tables["pareto"]) == 2 and report.tables["pareto"]["compute_group"].nunique() == 2
    assert "pareto.png" not in {p.name for p in report.files}
    assert len(report.notes) == 1 and "needs ≥ 2 runs per budget" in report.notes[0]
    assert "needs ≥ 2 runs per budget" in report.html.read_text(encoding="utf-8")
    _check_html(report.html)
