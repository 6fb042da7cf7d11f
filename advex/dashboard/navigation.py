"""The dashboard's pages in sidebar order: one table for the sidebar, the home page's links and the tests.

Streamlit serves ``app.py`` and ``pages/*.py`` (multipage apps with a ``pages/`` folder) at URL paths
derived from the file names (``pages/1_Tabular_explorer.py`` -> ``/Tabular_explorer``). Its own
sidebar would title the home page "app", so it is hidden (``client.showSidebarNavigation``) and
:func:`advex.dashboard.layout.page_setup` draws this table instead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class DashboardPage:
    """One view: its script (relative to the repository root), sidebar title, Material icon and URL path."""

    script: str
    title: str
    icon: str
    url_path: str


HOME = DashboardPage("app.py", "Home", ":material/home:", "")
TABULAR = DashboardPage("pages/1_Tabular_explorer.py", "Tabular explorer", ":material/table_chart:", "Tabular_explorer")
SALIENCY = DashboardPage("pages/2_Saliency_maps.py", "Saliency maps", ":material/image:", "Saliency_maps")
TRAIN = DashboardPage("pages/3_Train_a_model.py", "Train a model", ":material/model_training:", "Train_a_model")
TRADEOFFS = DashboardPage("pages/4_Trade-offs.py", "Trade-offs", ":material/balance:", "Trade-offs")
THEORY = DashboardPage("pages/5_Theory.py", "Theory", ":material/functions:", "Theory")
STABILITY = DashboardPage("pages/6_Stability.py", "Stability", ":material/shield:", "Stability")
BEYOND = DashboardPage("pages/7_Beyond_the_paper.py", "Beyond the paper", ":material/explore:", "Beyond_the_paper")

PAGES = (HOME, TABULAR, SALIENCY, TRAIN, TRADEOFFS, THEORY, STABILITY, BEYOND)


@functools.cache
def favicon(size: int = 32) -> Image.Image:
    """The tab icon, drawn here so an offline server needs no icon font: a sparse saliency map.

    A few bright pixels on a dark square, the picture of a concise explanation.
    """
    image = np.full((size, size, 3), (14, 17, 23), dtype=np.uint8)
    cell = size // 4
    for row, col, colour in ((0, 1, (255, 75, 75)), (1, 2, (255, 189, 69)), (2, 1, (255, 75, 75)),
                             (3, 3, (131, 201, 255))):
        image[row * cell + 1:(row + 1) * cell - 1, col * cell + 1:(col + 1) * cell - 1] = colour
    return Image.fromarray(image)
