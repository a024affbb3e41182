"""From a local benchmark to an Azure estimate: a Universal Scalability Law fit, scaled and capped.

A laptop run measures throughput X at a few parallelisms N (partitions = Spark tasks). The USL
C(N) = lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1)) summarises that curve in three numbers: lambda, the
rate of one task; sigma, contention (queueing on a shared resource); kappa, coherency cost (the
crosstalk that makes throughput fall after a peak). A projection reuses those numbers on an Azure
profile and then caps the result by what the brokers' disks and network can carry.

Everything here is a model: outputs say so, and show how well the fit matched the points it used.
The fit is plain Python (no numpy): a linearised least-squares start, then a bounded
Levenberg-Marquardt refinement of the squared throughput residuals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.topology.azure import MB, DeploymentProfile
from harness.errors import HarnessError

DISCLAIMER = "MODEL PROJECTION, not a measurement"
_SIGMAS = (0.0, 1e-3, 1e-2, 0.05, 0.2, 0.6)
_KAPPAS = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)


# ---------------------------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class UslFit:
    """USL parameters fitted to measured (parallelism, throughput) points, with how well they fit."""

    lam: float
    sigma: float
    kappa: float
    r_squared: float
    residuals: tuple[float, ...]
    points: tuple[tuple[float, float], ...]

    def predict(self, n: float) -> float:
        """Throughput the fitted curve gives at parallelism n (n >= 0; fractional n is allowed)."""
        if n < 0:
            raise ValueError(f"parallelism must be >= 0, got {n}")
        return _usl(n, self.lam, self.sigma, self.kappa)

    def peak_n(self) -> float:
        """Parallelism of maximum throughput, sqrt((1-sigma)/kappa); inf when nothing ever bends the curve down.

        With sigma >= 1 adding parallelism never helps, so the peak is at 1.
        """
        if self.sigma >= 1:
            return 1.0
        if self.kappa <= 0:
            return math.inf
        return math.sqrt((1 - self.sigma) / self.kappa)

    def peak_throughput(self) -> float:
        """The curve's maximum (its asymptote lambda/sigma when kappa = 0; inf for a straight line)."""
        peak = self.peak_n()
        if math.isinf(peak):
            return self.lam / self.sigma if self.sigma > 0 else math.inf
        return self.predict(peak)

    @property
    def n_range(self) -> tuple[float, float]:
        ns = [n for n, _ in self.points]
        return min(ns), max(ns)

    def quality(self) -> str:
        """One line a reader can judge the fit by: R², how many points, which range of N."""
        low, high = self.n_range
        line = f"fit R²={self.r_squared:.4f} from {len(self.points)} points (N={low:g}..{high:g})"
        if len({n for n, _ in self.points}) <= 3:
            line += "; only as many distinct N as parameters, so R² says nothing about the fit"
        return line

    def describe(self) -> str:
        peak = self.peak_n()
        peak_text = "none (no coherency cost fitted)" if math.isinf(peak) else f"N≈{peak:.1f}, {self.peak_throughput():,.0f}/s"
        worst = max(self.residuals, key=abs)
        return "\n".join(
            [
                f"{DISCLAIMER}: Universal Scalability Law fit to measured points",
                f"  C(N) = λN / (1 + σ(N-1) + κN(N-1)),  λ={self.lam:,.2f}/s  σ={self.sigma:.5f}  κ={self.kappa:.6f}",
                f"  {self.quality()}; largest residual {worst:+,.1f}/s",
                f"  peak: {peak_text}",
            ]
        )


def fit_usl(points: Sequence[tuple[float, float]]) -> UslFit:
    """Least-squares USL fit with sigma, kappa >= 0 (negative values have no physical reading).

    Several starts (the linearised solution and a coarse grid) are refined and the lowest residual
    sum of squares wins, so a poor linearised start on noisy data cannot trap the fit.
    """
    pts = _validated(points)
    starts = [s for s in (_linearised_start(pts), *_grid_starts(pts)) if s is not None]
    best = min((_refine(pts, start) for start in starts), key=lambda p: _sse(pts, p))
    lam, sigma, kappa = best
    residuals = tuple(x - _usl(n, lam, sigma, kappa) for n, x in pts)
    return UslFit(lam=lam, sigma=sigma, kappa=kappa, r_squared=_r_squared(pts, residuals), residuals=residuals, points=tuple(pts))


def overhead_bound(fit: UslFit, cores: int) -> str | None:
    """Why a measured curve shows the harness's per-batch overhead or contention for the cores rather
    than partition parallelism, or None when it rises the way parallelism does. Such a curve must not
    be projected onto a cluster: scaling it up would contradict the fit it comes from (a fit that
    peaks at its first point says more partitions never helped, so "16 copies of the local machine"
    is not a prediction but an assumption the data refutes)."""
    first_n = fit.n_range[0]
    measured = sorted(fit.points)
    peak_n = fit.peak_n()
    if peak_n <= first_n * 1.05:
        return (f"the USL fit peaks at N≈{peak_n:.1f}, at its first point (N={first_n:g}): more partitions never raised the rate, "
                "so the sweep measured per-batch overhead or contention, not parallelism")
    within = [(n, x) for n, x in measured if n <= cores]
    if len(within) >= 2 and max(within, key=lambda p: p[1])[0] == within[0][0]:
        return (f"the measured rate did not rise from N={within[0][0]:g} up to the job's {cores} cores "
                f"({', '.join(f'{x:,.0f}' for _, x in within)} records/s): overhead or contention, not parallelism")
    best_n, best_x = max(measured, key=lambda p: p[1])
    best_within = max((x for _, x in within), default=0.0)
    if best_n > cores and best_x > 1.05 * best_within:
        return (f"the rate peaked at N={best_n:g}, past the job's {cores} cores ({best_x:,.0f} vs {best_within:,.0f} records/s within them): "
                "tasks waited on something other than CPU (overhead), so the curve does not measure parallelism")
    return None


def _usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def _validated(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = [(float(n), float(x)) for n, x in points]
    bad = [(n, x) for n, x in pts if not (n >= 1 and x > 0 and math.isfinite(n) and math.isfinite(x))]
    if bad:
        raise HarnessError(f"USL points need parallelism N >= 1 and throughput X > 0; bad points: {bad}")
    if len({n for n, _ in pts}) < 3:
        raise HarnessError(
            f"a USL fit has three parameters and needs at least three distinct parallelisms; got N = {sorted({n for n, _ in pts})}",
            hint="benchmark more partition counts, e.g. 1, 2, 4, 8",
        )
    return pts


def _sse(pts: list[tuple[float, float]], p: tuple[float, float, float]) -> float:
    return sum((x - _usl(n, *p)) ** 2 for n, x in pts)


def _r_squared(pts: list[tuple[float, float]], residuals: tuple[float, ...]) -> float:
    mean = sum(x for _, x in pts) / len(pts)
    total = sum((x - mean) ** 2 for _, x in pts)
    sse = sum(r * r for r in residuals)
    if total == 0:
        return 1.0 if sse <= 1e-12 * mean * mean else 0.0
    return 1 - sse / total


def _linearised_start(pts: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """N/X = (1 + σ(N-1) + κN(N-1)) / λ is linear in (1/λ, σ/λ, κ/λ): an ordinary least-squares start."""
    rows = [(1.0, n - 1, n * (n - 1)) for n, _ in pts]
    ys = [n / x for n, x in pts]
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    rhs = [sum(r[i] * y for r, y in zip(rows, ys)) for i in range(3)]
    solution = _solve(normal, rhs)
    if solution is None or solution[0] <= 0:
        return None
    a, b, c = solution
    return 1 / a, max(0.0, b / a), max(0.0, c / a)


def _grid_starts(pts: list[tuple[float, float]], keep: int = 3) -> list[tuple[float, float, float]]:
    """A coarse (σ, κ) grid with λ solved exactly for each cell; the best few cells become starts."""
    cells = [_with_best_lambda(pts, s, k) for s in _SIGMAS for k in _KAPPAS]
    return sorted(cells, key=lambda p: _sse(pts, p))[:keep]


def _with_best_lambda(pts: list[tuple[float, float]], sigma: float, kappa: float) -> tuple[float, float, float]:
    """For fixed σ, κ the model is linear in λ, so the best λ is a projection."""
    shape = [_usl(n, 1.0, sigma, kappa) for n, _ in pts]
    lam = sum(g * x for g, (_, x) in zip(shape, pts)) / sum(g * g for g in shape)
    return lam, sigma, kappa


def _refine(pts: list[tuple[float, float]], start: tuple[float, float, float], iterations: int = 300) -> tuple[float, float, float]:
    """Levenberg-Marquardt on (λ, σ, κ); σ or κ sitting at 0 and pushing below it is frozen there."""
    p = start
    cost = _sse(pts, p)
    damping = 1e-3
    for _ in range(iterations):
        jac, res = _jacobian(pts, p)
        gradient = [sum(row[j] * r for row, r in zip(jac, res)) for j in range(3)]
        free = [j for j in range(3) if not (j > 0 and p[j] <= 0 and gradient[j] <= 0)]
        step = _damped_step(jac, gradient, free, damping)
        if step is None:
            break
        trial = _clip(tuple(p[j] + step[j] for j in range(3)))
        trial_cost = _sse(pts, trial)
        if trial_cost < cost:
            converged = cost - trial_cost <= 1e-15 * cost
            p, cost, damping = trial, trial_cost, max(damping / 3, 1e-12)
            if converged or cost == 0:
                break
        else:
            damping *= 4
            if damping > 1e10:
                break
    return p


def _jacobian(pts: list[tuple[float, float]], p: tuple[float, float, float]) -> tuple[list[list[float]], list[float]]:
    lam, sigma, kappa = p
    jac, res = [], []
    for n, x in pts:
        denom = 1 + sigma * (n - 1) + kappa * n * (n - 1)
        jac.append([n / denom, -lam * n * (n - 1) / denom**2, -lam * n * n * (n - 1) / denom**2])
        res.append(x - lam * n / denom)
    return jac, res


def _damped_step(jac: list[list[float]], gradient: list[float], free: list[int], damping: float) -> list[float] | None:
    """Solve (JᵀJ + μ·diag(JᵀJ)) δ = Jᵀr over the free parameters; diag scaling copes with λ ≫ κ."""
    matrix = [[sum(row[i] * row[j] for row in jac) for j in free] for i in free]
    for k in range(len(free)):
        matrix[k][k] += damping * max(matrix[k][k], 1e-300)
    solution = _solve(matrix, [gradient[j] for j in free])
    if solution is None:
        return None
    step = [0.0, 0.0, 0.0]
    for k, j in enumerate(free):
        step[j] = solution[k]
    return step


def _clip(p: tuple[float, ...]) -> tuple[float, float, float]:
    lam, sigma, kappa = p
    return max(lam, 1e-300), max(sigma, 0.0), max(kappa, 0.0)


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when the system is singular."""
    size = len(rhs)
    a = [list(row) + [b] for row, b in zip(matrix, rhs)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-300:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, size):
            factor = a[r][col] / a[col][col]
            for c in range(col, size + 1):
                a[r][c] -= factor * a[col][c]
    x = [0.0] * size
    for r in reversed(range(size)):
        x[r] = (a[r][size] - sum(a[r][c] * x[c] for c in range(r + 1, size))) / a[r][r]
    return x


# --------------------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class ProjectionRow:
    """Projected throughput at one partition count, and what bounds it."""

    partitions: int
    model_records_per_s: float
    projected_records_per_s: float
    bound_by: str
    extrapolated: bool


@dataclass(frozen=True)
class Projection:
    """A local USL fit carried over to an Azure profile, capped by broker disks and network."""

    fit: UslFit
    profile: DeploymentProfile
    record_bytes: int
    local_cores: int
    consumers: int
    rows: tuple[ProjectionRow, ...]

    @property
    def copies(self) -> float:
        """How many 'local machines' the Spark cluster amounts to (spark cores / local cores)."""
        return self.profile.spark_cores / self.local_cores

    @property
    def write_cap_records_per_s(self) -> float:
        return self.profile.cluster_write_capacity_mb_s * MB / self.record_bytes

    @property
    def network_cap_records_per_s(self) -> float:
        return self.profile.network_read_capacity_mb_s(self.consumers) * MB / self.record_bytes

    @property
    def produce_rate_per_partition(self) -> float:
        """Records/s one partition can absorb: its log is on one disk of its leader."""
        return self.profile.partition_write_mb_s * MB / self.record_bytes

    @property
    def consume_rate_per_partition(self) -> float:
        """Records/s one Spark task reads from one partition: the fitted single-task rate, capped."""
        return self.at(1).projected_records_per_s

    def at(self, partitions: int) -> ProjectionRow:
        """The projection at any partition count, not only those in the table."""
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        model = self._spark_rate(partitions)
        # infrastructure first: on a tie the broker limit is the one that more parallelism cannot lift
        caps = {"broker disks": self.write_cap_records_per_s, "broker network": self.network_cap_records_per_s, "Spark (USL fit)": model}
        bound_by = min(caps, key=lambda k: caps[k])
        extrapolated = partitions / self.copies > self.fit.n_range[1]
        return ProjectionRow(partitions, model, caps[bound_by], bound_by, extrapolated)

    def _spark_rate(self, partitions: int) -> float:
        """The cluster as `copies` local machines, each with its share of partitions (a weak-scaling assumption).

        Fewer partitions than copies leaves copies idle: each busy one runs a single task at λ.
        """
        if partitions <= self.copies:
            return partitions * self.fit.predict(1)
        return self.copies * self.fit.predict(partitions / self.copies)

    def describe(self) -> str:
        p = self.profile
        lines = [
            f"{DISCLAIMER}: throughput on {p.brokers} x {p.broker_vm.name} brokers + {p.spark_workers} x {p.spark_worker_vm.name} "
            f"Spark workers ({p.spark_cores} cores), {self.record_bytes}-byte records",
            f"  {self.fit.quality()}, measured with local[{self.local_cores}]",
            f"  assumes: Azure cores as fast as local ones; the cluster behaves like {self.copies:g} copies of the local machine",
            f"  caps: broker disks {self.write_cap_records_per_s:,.0f}/s ({p.cluster_write_capacity_mb_s:.0f} MB/s), "
            f"broker network {self.network_cap_records_per_s:,.0f}/s ({p.network_read_capacity_mb_s(self.consumers):.0f} MB/s, "
            f"{self.consumers} consumer group(s))",
            f"  {'partitions':>10}  {'model/s':>14}  {'projected/s':>14}  {'MB/s':>8}  bound by",
        ]
        for row in self.rows:
            mark = "  (extrapolated beyond measured N)" if row.extrapolated else ""
            mb_s = row.projected_records_per_s * self.record_bytes / MB
            lines.append(
                f"  {row.partitions:>10}  {row.model_records_per_s:>14,.0f}  {row.projected_records_per_s:>14,.0f}  {mb_s:>8.1f}  {row.bound_by}{mark}"
            )
        return "\n".join(lines)


def project(fit: UslFit, profile: DeploymentProfile, *, record_bytes: int, local_cores: int, consumers: int = 1) -> Projection:
    """Carry a local fit to `profile` for partition counts 1, 2, 4, ... up to twice the Spark cores."""
    if record_bytes < 1 or local_cores < 1 or consumers < 1:
        raise ValueError("record_bytes, local_cores and consumers must all be >= 1")
    draft = Projection(fit, profile, record_bytes, local_cores, consumers, rows=())
    rows = tuple(draft.at(n) for n in partition_counts(profile.spark_cores))
    return Projection(fit, profile, record_bytes, local_cores, consumers, rows=rows)


def partition_counts(spark_cores: int) -> tuple[int, ...]:
    """Powers of two up to 2 x cores, plus the core count and its double when they are not powers of two."""
    counts = {spark_cores, 2 * spark_cores}
    power = 1
    while power <= 2 * spark_cores:
        counts.add(power)
        power *= 2
    return tuple(sorted(counts))


# ----------------------------------------------------------------------------------- recommendation


@dataclass(frozen=True)
class Recommendation:
    """How many partitions to create for a target rate, or why the profile cannot reach it."""

    target_records_per_s: float
    partitions: int | None
    projected_records_per_s: float
    limit: str | None
    rule_minimum: int
    produce_rate_per_partition: float
    consume_rate_per_partition: float
    projection: Projection

    @property
    def reachable(self) -> bool:
        return self.partitions is not None

    def describe(self) -> str:
        head = f"{DISCLAIMER}: partitions for {self.target_records_per_s:,.0f} records/s"
        rule = (
            f"  sizing rule: partitions >= max(target / {self.produce_rate_per_partition:,.0f} produce/s per partition, "
            f"target / {self.consume_rate_per_partition:,.0f} consume/s per partition) = {self.rule_minimum}"
        )
        quality = f"  {self.projection.fit.quality()}"
        if self.partitions is None:
            answer = (
                f"  not reachable on this profile: limit {self.limit}; best projected {self.projected_records_per_s:,.0f} records/s"
            )
        else:
            answer = f"  recommend {self.partitions} partitions: projected {self.projected_records_per_s:,.0f} records/s"
        return "\n".join([head, answer, rule, quality])


def recommend_partitions(
    projection: Projection,
    target_records_per_s: float,
    *,
    produce_rate_per_partition: float | None = None,
    consume_rate_per_partition: float | None = None,
) -> Recommendation:
    """Smallest partition count whose projection reaches the target, never below the sizing rule.

    Per-partition rates default to the model's (one disk per partition for produce, the fitted
    single-task rate for consume); pass measured ones when you have them.
    """
    if target_records_per_s <= 0:
        raise ValueError("target_records_per_s must be > 0")
    produce = projection.produce_rate_per_partition if produce_rate_per_partition is None else produce_rate_per_partition
    consume = projection.consume_rate_per_partition if consume_rate_per_partition is None else consume_rate_per_partition
    if produce <= 0 or consume <= 0:
        raise ValueError("per-partition produce and consume rates must be > 0")
    rule_min = max(1, math.ceil(max(target_records_per_s / produce, target_records_per_s / consume) - 1e-9))
    return _Search(projection, target_records_per_s, rule_min, produce, consume).recommend()


@dataclass(frozen=True)
class _Search:
    """Scans partition counts 1 .. 2 x Spark cores (the projection's range) for the recommendation."""

    projection: Projection
    target: float
    rule_min: int
    produce: float
    consume: float

    def recommend(self) -> Recommendation:
        rows = [self.projection.at(p) for p in range(1, 2 * self.projection.profile.spark_cores + 1)]
        top = max(r.projected_records_per_s for r in rows)
        best = [r for r in rows if r.projected_records_per_s >= top * (1 - 1e-9)][-1]  # a plateau's end shows its cause
        if not any(self._reaches(r) for r in rows):
            return self._answer(None, best, self._limit_text(best))
        row = self._first_reaching_from(self.rule_min, len(rows))
        if row is None:
            at_rule = self.projection.at(self.rule_min)
            return self._answer(None, at_rule, f"sizing rule (it needs >= {self.rule_min} partitions, where the model projects "
                                               f"only {at_rule.projected_records_per_s:,.0f} records/s)")
        if row.partitions > self.projection.profile.max_partitions:
            return self._answer(None, row, f"partitions per broker ({row.partitions} > {self.projection.profile.max_partitions} in total)")
        return self._answer(row.partitions, row, None)

    def _first_reaching_from(self, start: int, scan_end: int) -> ProjectionRow | None:
        """The rule can ask for more partitions than the model needs; past a USL peak that may miss the target."""
        candidates = (self.projection.at(p) for p in range(start, max(start, scan_end) + 1))
        return next((r for r in candidates if self._reaches(r)), None)

    def _reaches(self, row: ProjectionRow) -> bool:
        return row.projected_records_per_s >= self.target * (1 - 1e-9)

    def _answer(self, partitions: int | None, row: ProjectionRow, limit: str | None) -> Recommendation:
        return Recommendation(
            target_records_per_s=self.target, partitions=partitions, projected_records_per_s=row.projected_records_per_s,
            limit=limit, rule_minimum=self.rule_min, produce_rate_per_partition=self.produce,
            consume_rate_per_partition=self.consume, projection=self.projection,
        )

    def _limit_text(self, best: ProjectionRow) -> str:
        texts: dict[str, Callable[[], str]] = {
            "broker disks": lambda: f"broker disks ({self.projection.profile.cluster_write_capacity_mb_s:.0f} MB/s of producer writes after replication)",
            "broker network": lambda: f"broker network ({self.projection.profile.network_read_capacity_mb_s(self.projection.consumers):.0f} MB/s of reads)",
            "Spark (USL fit)": lambda: f"Spark (USL fit peaks at {best.projected_records_per_s:,.0f} records/s with {best.partitions} partitions)",
        }
        return texts[best.bound_by]()
