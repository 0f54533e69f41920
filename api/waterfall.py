"""The SHAP waterfall of one session as a PNG, drawn for a person.

Drawn with Pillow, by hand, on purpose. `shap.plots.waterfall` draws on pyplot's global figure:
from several threads it returns wrong or blank images, and it takes ~210 ms. matplotlib's
object-oriented Figure is thread-safe but still costs 40-100 ms a picture here (matplotlib 3.11
rasterizes text glyph by glyph in Python), which caps a 2-core machine at ~20-40 pictures a
second: p50 at 16 concurrent callers would be ~0.5 s. A waterfall of four bars is a few
rectangles and strings; Pillow draws and encodes it in a few milliseconds. matplotlib still
chooses the axis ticks and provides the font (DejaVu Sans, as in every matplotlib chart).

Thread safety: every call draws on its own Image; font objects are per thread.

Nothing is cut off: the label column is as wide as its longest label (the picture widens), and
a probability is never rounded to 0% or 100% unless it is one (p = 0.9957 reads 99.6%). The
PNG carries its title and a text description (alternative text for a screen reader).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from pipeline.serving.trees import sigmoid

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
WIDTH = 760  # at least; wider when a label needs it
ROW_HEIGHT = 46
TOP = 92
BOTTOM = 92
MARGIN = 16
LABEL_RIGHT = 300  # at least
PLOT_WIDTH = WIDTH - 28 - 320
# shap's own colours: red pushes towards abandonment, blue away from it.
RED, BLUE = (255, 0, 81), (0, 139, 251)
INK, GREY, LIGHT = (34, 34, 34), (110, 110, 110), (200, 200, 200)

_fonts = threading.local()


@dataclass(frozen=True)
class Waterfall:
    """What the picture shows: features with their values as the caller gave them."""

    features: Sequence[str]
    shown_values: Sequence[str]  # "3", "12.5", "treatment", "missing"
    contributions: Sequence[float]  # log-odds
    base_value: float
    probability: float
    risk_band: str

    @property
    def margin(self) -> float:
        return self.base_value + math.fsum(self.contributions)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    key = (size, bold)
    cache = getattr(_fonts, "cache", None)
    if cache is None:
        cache = _fonts.cache = {}
    if key not in cache:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        cache[key] = ImageFont.truetype(str(FONT_DIR / name), size)
    return cache[key]


def _fmt(x: float) -> str:
    return f"{x:+.2f}" if abs(x) >= 0.005 else f"{x:+.3f}"


def percent(p: float) -> str:
    """A probability as a percentage, with as many decimals as keep it off 0% and 100% when it
    is neither (0.9957 -> 99.6%, 0.5 -> 50%)."""
    for digits in range(4):
        text = f"{p:.{digits}%}"
        if p in (0.0, 1.0) or text not in (f"{0:.{digits}%}", f"{1:.{digits}%}"):
            return text
    return ">99.99%" if p > 0.5 else "<0.01%"


def title(w: Waterfall) -> str:
    return f"P(abandoned) = {percent(w.probability)}  ·  {w.risk_band} risk"


def description(w: Waterfall) -> str:
    """What the picture shows, in words (the PNG's alternative text)."""
    order = sorted(range(len(w.features)), key=lambda i: abs(w.contributions[i]), reverse=True)
    effects = "; ".join(
        f"{w.features[i]} = {w.shown_values[i]}: {_fmt(w.contributions[i])}" for i in order
    )
    return (
        f"SHAP waterfall. P(abandoned) = {percent(w.probability)}, {w.risk_band} risk. From the "
        f"average session's log-odds {w.base_value:.2f} (p = {percent(sigmoid(w.base_value))}) "
        f"to this session's {w.margin:.2f}; effects on the log-odds, largest first: {effects}."
    )


def render_png(w: Waterfall) -> bytes:
    """The waterfall: bars from E[f(X)] (bottom) to f(x) (top), biggest effect on top."""
    order = sorted(range(len(w.features)), key=lambda i: abs(w.contributions[i]), reverse=True)
    n = len(order)
    height = TOP + n * ROW_HEIGHT + BOTTOM
    # Cumulative positions, accumulated from the bottom row (smallest effect) upwards.
    starts: dict[int, float] = {}
    position = w.base_value
    for i in reversed(order):
        starts[i] = position
        position += w.contributions[i]
    margin = position
    points = [w.base_value, margin, *(starts[i] + w.contributions[i] for i in order)]
    lo, hi = min(points), max(points)
    span = max(hi - lo, 0.1)
    lo, hi = lo - 0.22 * span, hi + 0.22 * span

    heading, small, label, tiny = _font(17, True), _font(12), _font(13), _font(11)
    labels = [f"{w.features[i]} = {w.shown_values[i]}" for i in range(n)]
    widest = max((label.getlength(text) for text in labels), default=0.0)
    label_right = max(LABEL_RIGHT, math.ceil(widest) + MARGIN)
    plot_left = label_right + 20
    plot_right = plot_left + PLOT_WIDTH
    width = plot_right + 28

    def px(v: float) -> float:
        return plot_left + (v - lo) / (hi - lo) * (plot_right - plot_left)

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 14), title(w), font=heading, fill=INK)
    draw.text(
        (16, 40),
        "SHAP waterfall: how each value moves this session's log-odds of abandonment",
        font=small,
        fill=GREY,
    )
    draw.text(
        (16, 57),
        f"from the average session (base {w.base_value:.2f}, p = {percent(sigmoid(w.base_value))}) "
        f"to this one ({margin:.2f}, p = {percent(sigmoid(margin))}).",
        font=small,
        fill=GREY,
    )
    axis_y = TOP + n * ROW_HEIGHT + 8
    # f(x) and E[f(X)] reference lines
    for value, dash in ((w.base_value, True), (margin, False)):
        x = px(value)
        if dash:
            for y in range(TOP - 6, axis_y, 8):
                draw.line((x, y, x, min(y + 4, axis_y)), fill=GREY, width=1)
        else:
            draw.line((x, TOP - 6, x, axis_y), fill=INK, width=1)
    draw.text((px(margin), TOP - 8), f"f(x) = {margin:.2f}", font=tiny, fill=INK, anchor="mb")
    for row, i in enumerate(order):
        top = TOP + row * ROW_HEIGHT + 9
        bottom = top + ROW_HEIGHT - 18
        middle = (top + bottom) / 2
        draw.line((plot_left, bottom + 9, plot_right, bottom + 9), fill=(238, 238, 238))
        draw.text((label_right, middle), labels[i], font=label, fill=INK, anchor="rm")
        value = w.contributions[i]
        x0, x1 = px(starts[i]), px(starts[i] + value)
        colour = RED if value > 0 else BLUE
        head = min(8.0, abs(x1 - x0))
        if value >= 0:
            shape = [(x0, top), (x1 - head, top), (x1, middle), (x1 - head, bottom), (x0, bottom)]
            draw.polygon(shape, fill=colour)
            draw.text((x1 + 5, middle), _fmt(value), font=label, fill=colour, anchor="lm")
        else:
            shape = [(x0, top), (x1 + head, top), (x1, middle), (x1 + head, bottom), (x0, bottom)]
            draw.polygon(shape, fill=colour)
            draw.text((x1 - 5, middle), _fmt(value), font=label, fill=colour, anchor="rm")
    # the log-odds axis, ticks chosen by matplotlib's locator
    draw.line((plot_left, axis_y, plot_right, axis_y), fill=INK, width=1)
    for tick in MaxNLocator(nbins=6).tick_values(lo, hi):
        if lo <= tick <= hi:
            x = px(float(tick))
            draw.line((x, axis_y, x, axis_y + 5), fill=INK)
            draw.text((x, axis_y + 8), f"{tick:g}", font=tiny, fill=INK, anchor="mt")
    draw.text(
        (px(w.base_value), axis_y + 26),
        f"E[f(X)] = {w.base_value:.2f}",
        font=tiny,
        fill=GREY,
        anchor="mt",
    )
    draw.text(
        ((plot_left + plot_right) / 2, height - 16),
        "log-odds of abandonment (SHAP contributions; probability = sigmoid)",
        font=small,
        fill=INK,
        anchor="ms",
    )
    # 64 colours hold every shade of this picture; a palette PNG is a third of the RGB one's
    # size and faster to encode.
    palette = image.quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Title", title(w))
    info.add_itxt("Description", description(w))
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", compress_level=1, pnginfo=info)
    return buffer.getvalue()
