"""Which element of a tabular protocol moves Table 1's dG: measure protocols over seeds, one element at a time.

:func:`one_at_a_time` lists the authors' protocol, the authors' protocol with each element in which it
differs from the paper's set back to the paper's, and the paper's protocol. :func:`measure` runs
Table 1's tabular rows (:func:`advex.experiments.tabular.tabular_table1_rows`) for each protocol,
data set and seed; :func:`summarize` gives the mean and spread of dG (eqs. 21-22) and AcDrop over seeds.
Run it with ``python bench/bench_tabular.py --ablation``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import pandas as pd

from advex.experiments.tabular import tabular_table1_rows
from advex.experiments.tabular_protocols import (
    AUTHORS_PROTOCOL,
    PAPER_PROTOCOL,
    TabularProtocol,
    differing_elements,
    with_element,
)


def one_at_a_time(base: TabularProtocol = AUTHORS_PROTOCOL, other: TabularProtocol = PAPER_PROTOCOL) -> list[TabularProtocol]:
    """``base``, then ``base`` with each differing element taken from ``other`` (one at a time), then ``other``."""
    return [base, *(with_element(base, element, other) for element in differing_elements(base, other)), other]


def l1_on_kernel_and_bias(base: TabularProtocol = AUTHORS_PROTOCOL) -> TabularProtocol:
    """``base`` with the l1 term on the bias too (both protocols put it on the kernel only)."""
    return dataclasses.replace(base, name=f"{base.name} with l1 on kernel and bias", l1_scope="all")


def measure(
    protocols: Iterable[TabularProtocol], datasets: Iterable[str], seeds: Iterable[int], data_dir=None,
    attrs: tuple[str, ...] = ("IG",), progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per (protocol, data set, seed, attribution, model "l"/"a"): accuracy, mean Gini, dG, AcDrop."""
    records = []
    for protocol in protocols:
        for dataset in datasets:
            for seed in seeds:
                if progress is not None:
                    progress(f"{protocol.name}: {dataset}, seed {seed}")
                rows = tabular_table1_rows(dataset, data_dir=data_dir, seed=seed, protocol=protocol, attrs=attrs)
                natural = {row["attr"]: row for row in rows if row["model"] == "n"}
                records += [{"protocol": protocol.name, "dataset": dataset, "seed": seed, "attr": row["attr"],
                             "model": row["model"], "accuracy": row["accuracy"], "mean_gini": row["mean_gini"],
                             "natural_gini": natural[row["attr"]]["mean_gini"], "dG": row["dG"], "acc_drop": row["acc_drop"]}
                            for row in rows if row["model"] != "n"]
    return pd.DataFrame(records)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (over seeds) of dG, AcDrop and the natural model's mean Gini, in the protocols' order."""
    order = list(dict.fromkeys(frame["protocol"]))
    summary = (frame.groupby(["protocol", "dataset", "attr", "model"], sort=False)
               .agg(dG=("dG", "mean"), dG_sd=("dG", "std"), acc_drop=("acc_drop", "mean"), acc_drop_sd=("acc_drop", "std"),
                    natural_gini=("natural_gini", "mean"), seeds=("seed", "nunique"))
               .reset_index())
    summary["protocol"] = pd.Categorical(summary["protocol"], categories=order, ordered=True)
    return summary.sort_values(["dataset", "attr", "model", "protocol"], kind="stable").reset_index(drop=True)
