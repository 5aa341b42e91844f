"""The report's two charts, drawn with matplotlib's object API on the Agg canvas (no display, no pyplot
state), from the tables as shown: a hidden figure is drawn at zero and labelled with its marker.

- rice: the kilograms of each route per month, stacked, against the monthly target;
- aid: the cases of each kind of aid, waiting, approved and declined side by side.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from client.report import strings as s
from client.report.compute import ROUTES
from client.report.render import Shown
from client.report.strings import Catalog

COLOURS: Final = ("#1f5f8b", "#e08a1e", "#5a9e4b", "#8b3a62")
SIZE: Final = (8.0, 4.0)  # inches: fits the width of an A4 page with margins
BASE_FONT: Final = "DejaVu Sans"
CJK_FONTS: Final = {"ko": "Noto Sans CJK KR", "ja": "Noto Sans CJK JP", "zh_Hans": "Noto Sans CJK SC"}


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    png: bytes
    svg: str

    def write(self, directory: Path) -> list[Path]:
        png, svg = directory / f"{self.key}.png", directory / f"{self.key}.svg"
        png.write_bytes(self.png)
        svg.write_text(self.svg, encoding="utf-8")
        return [png, svg]

    def inline_svg(self) -> str:
        """The SVG element alone, for embedding in an HTML page."""
        return self.svg[self.svg.index("<svg") :]


def _new_figure() -> Figure:
    figure = Figure(figsize=SIZE, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _finish(key: str, title: str, figure: Figure) -> Chart:
    png, svg = io.BytesIO(), io.BytesIO()
    figure.savefig(png, format="png", dpi=150)
    figure.savefig(svg, format="svg", metadata={"Date": None})  # no timestamp: the same report, the same file
    return Chart(key, title, png.getvalue(), svg.getvalue().decode("utf-8"))


def rice_chart(rice: Shown, target_kg: int, catalog: Catalog) -> Chart:
    months = [row[0].text for row in rice.body()]
    figure = _new_figure()
    axes = figure.add_subplot()
    base = [0] * len(months)
    for route, colour in zip(ROUTES, COLOURS, strict=False):
        kg = [cell.value or 0 for cell in rice.cells(route)]
        axes.bar(months, kg, bottom=base, label=route, color=colour)
        base = [b + k for b, k in zip(base, kg, strict=True)]
    axes.axhline(target_kg, color="#b22222", linestyle="--", linewidth=1.5, label=catalog(s.CHART_TARGET))
    axes.set_title(catalog(s.CHART_RICE))
    axes.set_ylabel(catalog(s.CHART_RICE_Y))
    axes.tick_params(axis="x", labelrotation=45)
    axes.legend(loc="upper left", fontsize="small")
    return _finish("rice", catalog(s.CHART_RICE), figure)


def aid_chart(aid: Shown, threshold: int, catalog: Catalog) -> Chart:
    kinds = [row[0].text for row in aid.body()]
    figure = _new_figure()
    axes = figure.add_subplot()
    width = 0.27
    for n, (key, title, colour) in enumerate(
        (("open", s.COL_OPEN, COLOURS[1]), ("approved", s.COL_APPROVED, COLOURS[2]), ("declined", s.COL_DECLINED, COLOURS[3]))
    ):
        cells = aid.cells(key)
        xs = [i + (n - 1) * width for i in range(len(kinds))]
        bars = axes.bar(xs, [c.value or 0 for c in cells], width, label=catalog(title), color=colour)
        axes.bar_label(bars, labels=[c.text for c in cells], fontsize="x-small", padding=1)
    axes.set_xticks(range(len(kinds)), kinds, rotation=30, ha="right")
    axes.set_title(catalog(s.CHART_AID))
    axes.set_ylabel(catalog(s.CHART_AID_Y))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="upper right", fontsize="small")
    figure.supxlabel(catalog(s.CHART_SUPPRESSED, threshold=threshold), fontsize="x-small")
    return _finish("aid", catalog(s.CHART_AID), figure)


def draw_charts(shown: list[Shown], *, target_kg: int, threshold: int, catalog: Catalog, language: str = "en") -> list[Chart]:
    """Both charts, their words in `language` (the catalog's): drawn with a CJK font where one is needed."""
    tables = {t.key: t for t in shown}
    with rc_context({"font.family": font_families(language)}):
        return [rice_chart(tables["rice"], target_kg, catalog), aid_chart(tables["aid"], threshold, catalog)]


def font_families(language: str) -> list[str]:
    """matplotlib's own DejaVu Sans, then for Korean, Chinese or Japanese the system's Noto Sans CJK (Debian:
    fonts-noto-cjk), so their labels draw as letters, not as empty boxes. A CJK font installed after matplotlib
    built its font cache is registered here (at most the few Noto Sans CJK files). Without one, DejaVu Sans."""
    wanted = CJK_FONTS.get(language)
    if wanted is None:
        return [BASE_FONT]
    if wanted not in {f.name for f in font_manager.fontManager.ttflist}:
        for path in font_manager.findSystemFonts(fontext="ttf"):
            if Path(path).name.startswith("NotoSansCJK"):
                font_manager.fontManager.addfont(path)
    return [BASE_FONT, wanted] if wanted in {f.name for f in font_manager.fontManager.ttflist} else [BASE_FONT]
