"""Tabular NAS benchmarks: architectures as rows of a table, results as columns."""

import csv
import gzip
import io
import math
import os

import numpy as np

from keras_nas_plus.spaces import nb201

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

NAMED_TABLES = ("nb201-cifar10",)
NB201_OBJECTIVES = ("noisy", "mean", "12ep")
_NB201_SEED_COLUMNS = tuple(f"valid_acc_200ep_seed{k}" for k in range(3))


def _open_text(path):
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_column(strings):
    """Returns the values of a decision column as int, float or str (all the same type)."""
    for cast in (int, float):
        try:
            values = [cast(s) for s in strings]
        except ValueError:
            continue
        if cast is float and any(math.isnan(v) for v in values):
            break
        return values
    return list(strings)


class TabularBenchmark:
    """A tabular NAS benchmark: one row per architecture, metric columns as results.

    The search space is the product of the decision columns' distinct values
    (each becomes a Keras Tuner `Choice`); a proposal that is not a row of the
    table is an unknown architecture.

    Args:
        decision_columns: dict column name -> list of the column's values, one
            per row (int, float or str; all rows the same length).
        objective: 1D float array, what the oracle sees, one per row.
        report: 1D float array, what is reported for the chosen architecture.
        cost: optional 1D float array, simulated seconds to evaluate a row
            (needed for time budgets).
        direction: "max" or "min" for both objective and report (default "max").
        objective_name: str, the metric name given to the oracle (default "objective").
        report_name: str, name of the report metric (default "report").
        noisy_objective: optional 2D float array (rows, repeats), NaN-padded: per-row
            repeated measurements; each search run then sees one repeat per
            row, drawn once per run (see `objective_for_run`).
        choices: optional dict column name -> ordered list of values, the
            `Choice` values (default: sorted distinct values of each column).
        source: str, where the table came from (for messages).
        equivalence: optional callable(values dict) -> canonical values dict:
            architectures with equal canonical values compute the same
            function (given to oracles that accept an `equivalence` argument).

    Raises:
        ValueError: if the table is empty, a column has the wrong length,
            a metric is non-numeric or two rows share the same decisions.
    """

    def __init__(
        self,
        decision_columns,
        objective,
        report,
        cost=None,
        direction="max",
        objective_name="objective",
        report_name="report",
        noisy_objective=None,
        choices=None,
        source="<table>",
        equivalence=None,
    ):
        self.equivalence = equivalence
        if direction not in ("max", "min"):
            raise ValueError(f"`direction` must be 'max' or 'min', got {direction!r}.")
        if not decision_columns:
            raise ValueError(f"{source}: no decision columns given.")
        self.source = source
        self.direction = direction
        self.objective_name = objective_name
        self.report_name = report_name
        self.objective = np.asarray(objective, dtype=np.float64)
        self.report = np.asarray(report, dtype=np.float64)
        self.cost = None if cost is None else np.asarray(cost, dtype=np.float64)
        self.noisy_objective = (
            None if noisy_objective is None else np.asarray(noisy_objective, dtype=np.float64)
        )
        n = len(self.objective)
        if n == 0:
            raise ValueError(f"{source}: the table has no rows.")
        self.decision_names = list(decision_columns)
        columns = [list(decision_columns[name]) for name in self.decision_names]
        for name, col in zip(self.decision_names, columns):
            if len(col) != n:
                raise ValueError(f"{source}: decision column {name!r} has {len(col)} rows, expected {n}.")
        for name, arr in (("report", self.report), ("cost", self.cost)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{source}: {name} column has shape {arr.shape}, expected ({n},).")
        if self.noisy_objective is not None and (
            self.noisy_objective.ndim != 2 or len(self.noisy_objective) != n
        ):
            raise ValueError(f"{source}: `noisy_objective` must have shape ({n}, repeats).")
        self.choices = {}
        for name, col in zip(self.decision_names, columns):
            given = (choices or {}).get(name)
            self.choices[name] = list(given) if given is not None else sorted(set(col))
        self.index = {}
        for row, key in enumerate(zip(*columns)):
            if key in self.index:
                raise ValueError(
                    f"{source}: rows {self.index[key]} and {row} have the same decisions {key}."
                )
            self.index[key] = row
        self.rows = list(zip(*columns))
        if self.noisy_objective is not None:
            self._num_repeats = np.sum(~np.isnan(self.noisy_objective), axis=1)
            if np.any(self._num_repeats == 0):
                raise ValueError(f"{source}: a row has no noisy objective value.")

    def __len__(self):
        return len(self.objective)

    @property
    def sign(self):
        """+1.0 when larger is better, -1.0 otherwise."""
        return 1.0 if self.direction == "max" else -1.0

    @property
    def optimum(self):
        """The best report value in the table (float)."""
        return float(np.max(self.report) if self.direction == "max" else np.min(self.report))

    def hyperparameters(self):
        """Builds the Keras Tuner search space: one `Choice` per decision column.

        Returns:
            `keras_tuner.HyperParameters`.
        """
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        for name in self.decision_names:
            hp.Choice(name, self.choices[name])
        return hp

    def lookup(self, values):
        """Finds the row of a set of hyperparameter values.

        Args:
            values: dict decision name -> value (extra keys are ignored).

        Returns:
            int row index, or None if the architecture is not in the table.
        """
        try:
            key = tuple(values[name] for name in self.decision_names)
        except KeyError:
            return None
        return self.index.get(key)

    def objective_for_run(self, seed):
        """The objective values one search run sees.

        With a noisy objective, one of each row's repeated measurements is drawn
        (uniformly, with a generator seeded by `seed`) and stays fixed for the run.

        Args:
            seed: int, the run's seed.

        Returns:
            1D float array, one value per row.
        """
        if self.noisy_objective is None:
            return self.objective
        rng = np.random.default_rng([int(seed), 201])
        pick = np.floor(rng.random(len(self)) * self._num_repeats).astype(np.int64)
        return self.noisy_objective[np.arange(len(self)), pick]

    @classmethod
    def from_csv(
        cls,
        path,
        decision_columns,
        objective_column,
        report_column=None,
        cost_column=None,
        direction="max",
        cost_scale=1.0,
        noisy_columns=None,
        choices=None,
    ):
        """Loads a table from a CSV file (optionally gzip-compressed, ``.gz``).

        Args:
            path: str, the CSV file; first line holds the column names.
            decision_columns: list of str (or a comma-separated str), the
                columns that hold the architecture decisions.
            objective_column: str, the metric column the oracle sees.
            report_column: str, the metric reported for the chosen
                architecture (default: `objective_column`).
            cost_column: optional str, simulated seconds per evaluation.
            direction: "max" or "min" (default "max").
            cost_scale: float > 0, factor applied to the cost column (default 1.0).
            noisy_columns: optional list of str, repeated measurements of the
                objective (empty cells allowed); see `TabularBenchmark`.
            choices: optional dict column -> ordered `Choice` values.

        Returns:
            `TabularBenchmark`.

        Raises:
            FileNotFoundError: if `path` does not exist.
            ValueError: if the file is empty, a column is missing, a metric
                is not numeric, or two rows share the same decisions.
        """
        if isinstance(decision_columns, str):
            decision_columns = [c.strip() for c in decision_columns.split(",") if c.strip()]
        decision_columns = list(decision_columns or [])
        if not decision_columns:
            raise ValueError("`decision_columns` must name at least one column.")
        report_column = report_column or objective_column
        if not os.path.exists(path):
            raise FileNotFoundError(f"Benchmark table not found: {path}")
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise ValueError(f"{path}: the table is empty (no header line).")
            header = [h.strip() for h in header]
            records = [r for r in reader if r and any(s.strip() for s in r)]
        if not records:
            raise ValueError(f"{path}: the table has no data rows.")
        wanted = list(decision_columns) + [objective_column, report_column]
        wanted += [c for c in (cost_column,) if c] + list(noisy_columns or [])
        for col in wanted:
            if col not in header:
                raise ValueError(f"{path}: missing column {col!r}; the table has columns {header}.")
        pos = {h: k for k, h in enumerate(header)}
        for line, r in enumerate(records, start=2):
            if len(r) != len(header):
                raise ValueError(f"{path}, line {line}: {len(r)} fields, expected {len(header)}.")

        def numeric(col, allow_empty=False):
            out = np.empty(len(records))
            for line, r in enumerate(records, start=2):
                s = r[pos[col]].strip()
                if allow_empty and s == "":
                    out[line - 2] = np.nan
                    continue
                try:
                    out[line - 2] = float(s)
                except ValueError:
                    raise ValueError(
                        f"{path}, line {line}: column {col!r} must be numeric, got {s!r}."
                    ) from None
                if not np.isfinite(out[line - 2]):
                    raise ValueError(f"{path}, line {line}: column {col!r} is not finite ({s!r}).")
            return out

        decisions = {c: _parse_column([r[pos[c]].strip() for r in records]) for c in decision_columns}
        cost = None
        if cost_column:
            cost = numeric(cost_column) * float(cost_scale)
        noisy = None
        if noisy_columns:
            noisy = np.stack([numeric(c, allow_empty=True) for c in noisy_columns], axis=1)
        return cls(
            decisions,
            objective=numeric(objective_column),
            report=numeric(report_column),
            cost=cost,
            direction=direction,
            objective_name=objective_column if not noisy_columns else f"{objective_column}_noisy",
            report_name=report_column,
            noisy_objective=noisy,
            choices=choices,
            source=str(path),
        )


def table_path(name):
    """Path of a shipped table's CSV file.

    Raises:
        ValueError: for an unknown table name.
    """
    if name not in NAMED_TABLES:
        raise ValueError(f"Unknown table {name!r}; shipped tables: {list(NAMED_TABLES)}.")
    return os.path.join(DATA_DIR, "nb201_cifar10.csv.gz")


def load_table(name, objective="noisy"):
    """Loads a table shipped with the package.

    Args:
        name: str, "nb201-cifar10": NAS-Bench-201 CIFAR-10, 15,625 cells
            (see data/PROVENANCE.md). Report: ``test_acc_200ep`` (%).
        objective: str, "noisy" (one seed's 200-epoch validation accuracy,
            drawn per architecture and run), "mean" (seed-mean
            ``valid_acc_200ep``) or "12ep" (``test_acc_12ep_1seed``, cost
            12/200 of the 200-epoch time). Default "noisy".

    Returns:
        `TabularBenchmark` with cost ``train_time_200ep_s`` (simulated seconds).

    Raises:
        ValueError: on an unknown name or objective.
    """
    if name != "nb201-cifar10":
        raise ValueError(f"Unknown table {name!r}; shipped tables: {list(NAMED_TABLES)}.")
    if objective not in NB201_OBJECTIVES:
        raise ValueError(f"`objective` must be one of {list(NB201_OBJECTIVES)} for {name}, got {objective!r}.")

    path = table_path(name)
    choices = {e: list(nb201.OPERATIONS) for e in nb201.EDGE_NAMES}
    kwargs = dict(
        decision_columns=list(nb201.EDGE_NAMES),
        report_column="test_acc_200ep",
        cost_column="train_time_200ep_s",
        choices=choices,
    )
    if objective == "mean":
        table = TabularBenchmark.from_csv(path, objective_column="valid_acc_200ep", **kwargs)
    elif objective == "12ep":
        table = TabularBenchmark.from_csv(
            path, objective_column="test_acc_12ep_1seed", cost_scale=12.0 / 200.0, **kwargs
        )
    else:
        table = TabularBenchmark.from_csv(
            path, objective_column="valid_acc_200ep", noisy_columns=list(_NB201_SEED_COLUMNS), **kwargs
        )
    table.equivalence = nb201.canonical_values
    return table
