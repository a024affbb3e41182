"""The parallelism sweep as a Markdown report and a PNG plot: measurements, baselines, the model.

Three kinds of figure appear and are never mixed up: *measured* (the sweep's points and Kafka's
perf tools on the same twin in the same run), *ratios* of those, and *MODEL* figures: the Universal
Scalability Law fitted to the measured points and its projection onto an Azure profile. Every
model figure says so and travels with its fit quality (R², points used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.topology.azure import MB, DeploymentProfile
from harness.bench.model import DISCLAIMER, Projection, Recommendation, UslFit, fit_usl, overhead_bound, project, recommend_partitions
from harness.bench.sweep import SweepPoint, SweepResult
from harness.errors import HarnessError

MODEL_LABEL = "MODEL"


@dataclass(frozen=True)
class Analysis:
    """The model side of a report: a USL fit of one core count's points, projected onto an Azure profile."""

    fit_cores: int | None
    fit: UslFit | None
    azure_profile: str
    target_records_per_s: float
    profile: DeploymentProfile | None = None
    projection: Projection | None = None
    recommendation: Recommendation | None = None
    problem: str | None = None
    """Why there is no model (too few points, no Spark worker in the profile, ...), when there is none."""


@dataclass(frozen=True)
class BenchReport:
    markdown: Path
    png: Path
    analysis: Analysis


def analyse(result: SweepResult, *, target_records_per_s: float, azure_profile: str = "hdinsight", fit_cores: int | None = None,
            consumers: int = 1) -> Analysis:
    """Fit the USL to (partitions, Spark records/s) and carry it to `azure_profile`; a failure becomes `problem`."""
    from harness.topology import load_profile

    cores = fit_cores if fit_cores is not None else (max(result.cores) if result.points else None)
    empty = Analysis(fit_cores=cores, fit=None, azure_profile=azure_profile, target_records_per_s=target_records_per_s)
    if cores is None:
        return _with_problem(empty, "no points were measured")
    try:
        fit = fit_usl(result.fit_points(cores))
    except HarnessError as exc:
        return _with_problem(empty, str(exc))
    bound = overhead_bound(fit, cores)
    if bound is not None:
        return Analysis(fit_cores=cores, fit=fit, azure_profile=azure_profile, target_records_per_s=target_records_per_s,
                        problem=f"declined to project or recommend: {bound}")
    try:
        profile = DeploymentProfile.from_topology(load_profile(azure_profile))
        record_bytes = max(1, round(result.record_bytes))
        projection = project(fit, profile, record_bytes=record_bytes, local_cores=cores, consumers=consumers)
        recommendation = recommend_partitions(projection, target_records_per_s)
    except HarnessError as exc:
        return Analysis(fit_cores=cores, fit=fit, azure_profile=azure_profile, target_records_per_s=target_records_per_s,
                        problem=f"no projection onto {azure_profile}: {exc}")
    return Analysis(fit_cores=cores, fit=fit, azure_profile=azure_profile, target_records_per_s=target_records_per_s,
                    profile=profile, projection=projection, recommendation=recommendation)


def _with_problem(analysis: Analysis, problem: str) -> Analysis:
    return Analysis(analysis.fit_cores, None, analysis.azure_profile, analysis.target_records_per_s, problem=f"no model: {problem}")


def write_report(result: SweepResult, directory: Path, *, target_records_per_s: float, azure_profile: str = "hdinsight",
                 name: str = "parallelism", fit_cores: int | None = None) -> BenchReport:
    """Write `<name>.md` and `<name>.png` into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    analysis = analyse(result, target_records_per_s=target_records_per_s, azure_profile=azure_profile, fit_cores=fit_cores)
    png = directory / f"{name}.png"
    plot(result, analysis, png)
    markdown = directory / f"{name}.md"
    markdown.write_text(render_markdown(result, analysis, png_name=png.name))
    return BenchReport(markdown=markdown, png=png, analysis=analysis)


# -------------------------------------------------------------------------------------- Markdown


def _n(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _tasks(point: SweepPoint) -> str:
    t = point.tasks_per_batch or {}
    return f"{_n(t.get('min'))}/{_n(t.get('max'))}/{_n(t.get('mean'), 1)}" if t else "-"


def render_markdown(result: SweepResult, analysis: Analysis, *, png_name: str = "parallelism.png") -> str:
    lines = [
        "# Parallelism sweep: Kafka partitions x Spark cores (local twin)",
        "",
        f"Scenario `{result.scenario}` on profile `{result.profile}`, about {result.records:,} records per point, "
        f"mean record {result.record_bytes:.0f} bytes (key + value); host with {result.host_cpus} CPUs; started {result.started}.",
        "",
        "Every point ran the scenario end to end (producer as fast as it goes, the job in bounded micro-batches, "
        "verification against the oracle). The baselines ran on the same twin in the same run: "
        "`kafka-consumer-perf-test` read the topic the point wrote; `kafka-producer-perf-test` wrote as many records of the "
        "same mean size to a scratch topic with the same partitions and acks. Figures in this section are **measured**.",
        "",
        "## Measured points and ratios",
        "",
        "| cores | partitions | verdict | harness producer rec/s | Kafka producer tool rec/s | **harness producer / Kafka producer tool** "
        "| Spark rec/s (batch time) | Spark rec/s (wall) | raw consumer rec/s (consumer tool, fetch) | **Spark job / raw consumer** "
        "| raw spark.read rec/s | **Spark job / raw spark.read** | noop-sink query rec/s | **Spark job / noop-sink query** "
        "| **noop-sink query / raw spark.read** "
        "| median batch ms | tasks per batch min/max/mean | batches (with data) | peak lag | latency p50 / p95 / p99 ms | late dropped |",
        "|" + "---|" * 21,
    ]
    for point in sorted(result.points, key=lambda p: (p.cores, p.partitions)):
        lat = point.latency_ms or {}
        peak_lag = max((lag for _, lag in point.lag), default=0)
        verdict = point.verdict + (f" ({', '.join(point.failed_checks)})" if point.failed_checks else "")
        lines.append(
            f"| {point.cores} | {point.partitions} | {verdict} | {_n(point.producer_records_per_s)} "
            f"| {_n(point.perf_producer.records_per_s if point.perf_producer else None)} | {_ratio(point.producer_ratio)} "
            f"| {_n(point.spark_records_per_s)} | {_n(point.spark_records_per_s_wall)} "
            f"| {_n(point.perf_consumer.fetch_records_per_s if point.perf_consumer else None)} | {_ratio(point.consumer_ratio)} "
            f"| {_n(point.raw_read_records_per_s)} | {_ratio(point.raw_read_ratio)} "
            f"| {_n(point.noop_sink_records_per_s)} | {_ratio(point.harness_ratio)} | {_ratio(point.engine_ratio)} "
            f"| {_n(point.median_batch_ms)} | {_tasks(point)} | {point.micro_batches} ({point.data_batches}) | {peak_lag:,} "
            f"| {_n(lat.get('p50'))} / {_n(lat.get('p95'))} / {_n(lat.get('p99'))} | {_n(point.late_dropped) if point.late_dropped is not None else '-'} |"
        )
    lines += [
        "",
        "- *harness producer*: the scenario's confluent-kafka producer, acknowledged records / replay seconds. "
        "*Kafka producer tool*: `kafka-producer-perf-test`, its summary records/sec (random bytes, null keys).",
        "- *Spark rec/s (batch time)*: input rows / summed duration of the micro-batches with data (what the job processes while "
        "busy; the figure the model is fitted to). *(wall)*: input rows / the job's whole run, start-up and quiet period included.",
        "- *raw spark.read*: a batch `spark.read.format(\"kafka\")` count of the same topic in the same session (the second of two "
        "reads): the connector's own rate, which the job's rate is measured against (goal 0.5 or above).",
        "- *noop-sink query*: the scenario's own query, trigger and batch bound into Spark's `noop` sink on the same topic and "
        "session after the run, rows / busy batch time: the job without the harness (no observed metric, no collect into Python) "
        "and without the producer writing beside it. *Spark job / noop-sink query* is what both cost the job; *noop-sink query / "
        "raw spark.read* is what Spark's micro-batches of this query cost against one batch read, with no harness at all.",
        "- *raw consumer*: `kafka-consumer-perf-test`'s fetch.nMsg.sec, records / fetch time, i.e. without its consumer-group join "
        "(Spark assigns partitions and joins no group).",
        "- *tasks per batch*: Spark source tasks, one per Kafka partition with data in the batch (minPartitions can split more). "
        "*peak lag*: the most records in Kafka not yet read at the end of a batch.",
        "",
        "### Consumer lag over time",
        "",
        "Seconds since the first batch with data started : records not yet read, at the end of each micro-batch.",
        "",
    ]
    for point in sorted(result.points, key=lambda p: (p.cores, p.partitions)):
        series = ", ".join(f"{t / 1000:.1f}s:{lag:,}" for t, lag in point.lag) or "-"
        lines.append(f"- local[{point.cores}], {point.partitions} partitions: {series}")
    lines += ["", f"![parallelism sweep: measured points, the USL model and its Azure projection]({png_name})", ""]
    lines += _model_section(result, analysis)
    return "\n".join(lines) + "\n"


def _model_section(result: SweepResult, analysis: Analysis) -> list[str]:
    lines = [f"## {MODEL_LABEL}: Universal Scalability Law fit to the measured points (a model, not a measurement)", ""]
    fit = analysis.fit
    if fit is None:
        return lines + [f"No model was fitted: {analysis.problem}", ""]
    lines += [
        f"Fitted to (partitions, Spark rec/s batch time) of the local[{analysis.fit_cores}] points. "
        f"Fit quality: **R² = {fit.r_squared:.4f} from {len(fit.points)} points** (N = {fit.n_range[0]:g}..{fit.n_range[1]:g})"
        + (f"; {fit.quality().split('; ', 1)[1]}." if "; " in fit.quality() else "."),
        "",
        "```",
        fit.describe(),
        "```",
        "",
        "| partitions | measured Spark rec/s | model rec/s (USL fit) | residual |",
        "|---|---|---|---|",
    ]
    for (n, measured), residual in zip(fit.points, fit.residuals):
        lines.append(f"| {n:g} | {measured:,.0f} | {fit.predict(n):,.0f} (model) | {residual:+,.0f} |")
    lines.append("")
    lines += [f"## {MODEL_LABEL} PROJECTION onto the Azure profile `{analysis.azure_profile}` ({DISCLAIMER})", ""]
    if analysis.projection is None or analysis.profile is None or analysis.recommendation is None:
        return lines + [f"No projection: {analysis.problem}", ""]
    projection, rec = analysis.projection, analysis.recommendation
    lines += [
        f"Every figure in this section is a model projection from R² = {fit.r_squared:.4f} over {len(fit.points)} measured points, "
        f"scaled to {analysis.profile.spark_cores} Spark cores and capped by the profile's broker disks and network; "
        "no Azure cluster was measured.",
        "",
        "```",
        analysis.profile.describe(),
        "",
        projection.describe(),
        "```",
        "",
        f"### {MODEL_LABEL} recommendation for {analysis.target_records_per_s:,.0f} records/s",
        "",
    ]
    if rec.reachable:
        lines.append(f"**Recommended partition count (model): {rec.partitions}**, projected {rec.projected_records_per_s:,.0f} records/s "
                     f"({rec.projected_records_per_s * projection.record_bytes / MB:.1f} MB/s, model).")
    else:
        lines.append(f"**Not reachable on this profile (model)**: {rec.limit}.")
    lines += ["", "```", rec.describe(), "```", ""]
    return lines


# ------------------------------------------------------------------------------------------ plot


def plot(result: SweepResult, analysis: Analysis, path: Path) -> Path:
    """Four panels: local throughput with baselines and the fit, the Azure MODEL projection, lag over time, latency."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    try:
        _plot_local(axes[0][0], result, analysis)
        _plot_projection(axes[0][1], analysis)
        _plot_lag(axes[1][0], result)
        _plot_latency(axes[1][1], result)
        fig.suptitle(f"Parallelism sweep: {result.scenario} on {result.profile} ({result.records:,} records per point)", fontsize=13)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path


def _partitions_axis(ax, values: Sequence[float]) -> None:  # noqa: ANN001
    ax.set_xscale("log", base=2)
    ticks = sorted({int(v) for v in values if v >= 1})
    if ticks:
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel("Kafka partitions (= Spark source tasks)")
    ax.grid(True, which="both", alpha=0.3)


def _plot_local(ax, result: SweepResult, analysis: Analysis) -> None:  # noqa: ANN001
    markers = "osD^v"
    all_n: list[float] = []
    for i, cores in enumerate(result.cores):
        points = result.for_cores(cores)
        ns = [p.partitions for p in points]
        all_n += ns
        m = markers[i % len(markers)]
        ax.plot(ns, [p.spark_records_per_s for p in points], m + "-", color="C0", alpha=1 - 0.3 * i,
                label=f"Spark job, batch time, local[{cores}]")
        consumer = [(p.partitions, p.perf_consumer.fetch_records_per_s) for p in points if p.perf_consumer]
        if consumer:
            ax.plot(*zip(*consumer), m + ":", color="C2", label=f"consumer perf tool, fetch (local[{cores}] run)")
        ax.plot(ns, [p.producer_records_per_s for p in points], m + "--", color="C3", alpha=0.8,
                label="harness producer" if i == 0 else None)
        producer = [(p.partitions, p.perf_producer.records_per_s) for p in points if p.perf_producer]
        if producer:
            ax.plot(*zip(*producer), m + "-.", color="C1", alpha=0.8, label="producer perf tool" if i == 0 else None)
    fit = analysis.fit
    if fit is not None:
        low, high = fit.n_range
        xs = [low * (high / low) ** (k / 100) for k in range(101)] if high > low else [low]
        ax.plot(xs, [fit.predict(x) for x in xs], "-", color="black", linewidth=2,
                label=f"USL MODEL fit, local[{analysis.fit_cores}] (R²={fit.r_squared:.3f}, {len(fit.points)} pts)")
    elif analysis.problem:
        ax.text(0.02, 0.02, analysis.problem[:90], transform=ax.transAxes, fontsize=8, color="red")
    _partitions_axis(ax, all_n)
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 12)  # headroom: the legend sits above the curves
    ax.set_ylabel("records/s")
    ax.set_title("Local twin: measured throughput (points), baselines and the USL model")
    ax.legend(fontsize=7, loc="upper left", ncol=2)


def _plot_projection(ax, analysis: Analysis) -> None:  # noqa: ANN001
    projection, rec, fit = analysis.projection, analysis.recommendation, analysis.fit
    ax.set_title(f"{MODEL_LABEL} PROJECTION onto Azure profile '{analysis.azure_profile}'")
    if projection is None or rec is None or fit is None:
        ax.text(0.5, 0.5, f"no model projection\n{analysis.problem or ''}"[:200], ha="center", va="center", wrap=True, transform=ax.transAxes)
        ax.set_axis_off()
        return
    top = 2 * projection.profile.spark_cores
    ns = list(range(1, top + 1))
    rows = [projection.at(n) for n in ns]
    ax.plot(ns, [r.projected_records_per_s for r in rows], "-", color="C4", linewidth=2,
            label=f"projected records/s (MODEL; fit R²={fit.r_squared:.3f}, {len(fit.points)} points)")
    ax.plot(ns, [r.model_records_per_s for r in rows], ":", color="C4", label="Spark part before broker caps (MODEL)")
    measured_high = fit.n_range[1] * projection.copies
    if measured_high < top:
        ax.axvspan(measured_high, top, color="grey", alpha=0.12, label="extrapolated beyond the measured N per local machine (MODEL)")
    ax.axhline(projection.write_cap_records_per_s, color="C5", linestyle="--", label="broker disk cap (catalog figures)")
    ax.axhline(projection.network_cap_records_per_s, color="C6", linestyle="--", label="broker network cap (catalog figures)")
    ax.axhline(analysis.target_records_per_s, color="C3", linestyle="-.", label=f"target {analysis.target_records_per_s:,.0f} records/s")
    if rec.partitions is not None:
        ax.axvline(rec.partitions, color="C3", linewidth=1.5)
        ax.annotate(f"recommended (MODEL): {rec.partitions} partitions", xy=(rec.partitions, rec.projected_records_per_s),
                    xytext=(-170, 40), textcoords="offset points", fontsize=9, color="C3", arrowprops={"arrowstyle": "->", "color": "C3"})
    else:
        ax.text(0.02, 0.95, f"target not reachable (MODEL): {rec.limit}"[:120], transform=ax.transAxes, fontsize=8, color="C3", va="top")
    _partitions_axis(ax, [n for n in ns if n & (n - 1) == 0])
    ax.set_yscale("log")
    ax.set_ylabel("records/s (MODEL)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(0.0, 0.6))


def _plot_lag(ax, result: SweepResult) -> None:  # noqa: ANN001
    for i, point in enumerate(sorted(result.points, key=lambda p: (p.cores, p.partitions))):
        if point.lag:
            ts, lags = zip(*point.lag)
            ax.plot([t / 1000 for t in ts], lags, "o-", color=f"C{i % 10}", markersize=3,
                    label=f"{point.partitions} partitions, local[{point.cores}]")
    ax.set_xlabel("seconds since the first batch with data started")
    ax.set_ylabel("consumer lag (records not yet read)")
    ax.set_title("Consumer lag at the end of each micro-batch (measured)")
    ax.grid(True, alpha=0.3)
    if result.points:
        ax.legend(fontsize=7)


def _plot_latency(ax, result: SweepResult) -> None:  # noqa: ANN001
    all_n: list[float] = []
    for i, cores in enumerate(result.cores):
        points = [p for p in result.for_cores(cores) if (p.latency_ms or {}).get("p50") is not None]
        if not points:
            continue
        ns = [p.partitions for p in points]
        all_n += ns
        for q, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^:")):
            ax.plot(ns, [p.latency_ms[q] / 1000 for p in points], style, color=f"C{i}", label=f"{q} event-to-result, local[{cores}]")
        ax.plot(ns, [p.median_batch_ms / 1000 for p in points], "x-", color="grey", label=f"median batch duration, local[{cores}]")
    _partitions_axis(ax, all_n)
    ax.set_ylabel("seconds")
    ax.set_title("Latency and batch duration (measured)")
    if all_n:
        ax.legend(fontsize=7)
