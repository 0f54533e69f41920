"""The waterfall picture: right under concurrency, drawn with the values as sent."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from api.waterfall import Waterfall, render_png
from pipeline.serving.features import FEATURES


def pictures(n: int) -> list[Waterfall]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        contributions = rng.normal(0, 0.4, len(FEATURES)).tolist()
        shown = [
            str(i % 50),
            str(1 + i % 5),
            f"{rng.exponential(12):.2f}",
            ["treatment", "control", "missing"][i % 3],
        ]
        out.append(
            Waterfall(
                FEATURES,
                shown,
                contributions,
                float(rng.normal(0.8, 0.3)),
                float(rng.uniform()),
                "low",
            )
        )
    return out


def test_64_waterfalls_rendered_concurrently_equal_their_sequential_rendering():
    items = pictures(96)
    sequential = [render_png(w) for w in items]
    assert len(set(sequential)) == len(items)  # all different pictures
    with ThreadPoolExecutor(max_workers=16) as pool:
        concurrent = list(pool.map(render_png, items))
    mismatched = [i for i, (a, b) in enumerate(zip(sequential, concurrent, strict=True)) if a != b]
    assert mismatched == []


def test_picture_is_a_png_with_content():
    png = render_png(pictures(1)[0])
    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = np.asarray(image)
    assert image.size[0] == 760
    reds = ((pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] > 40)).sum()
    blues = ((pixels[..., 0] < 40) & (pixels[..., 1] > 100) & (pixels[..., 2] > 200)).sum()
    assert reds + blues > 2_000  # the bars are drawn in shap's red and blue


def test_values_are_shown_as_sent():
    base = pictures(1)[0]
    as_word = Waterfall(
        base.features,
        [*base.shown_values[:3], "treatment"],
        base.contributions,
        base.base_value,
        base.probability,
        "low",
    )
    as_code = Waterfall(
        base.features,
        [*base.shown_values[:3], "1"],
        base.contributions,
        base.base_value,
        base.probability,
        "low",
    )
    assert render_png(as_word) != render_png(as_code)  # the label text is part of the picture


def _long_label_picture(probability: float) -> Waterfall:
    base = pictures(1)[0]
    shown = [*base.shown_values[:2], "1234.5678901234567", "treatment"]  # 17 digits, as sent
    return Waterfall(base.features, shown, base.contributions, 0.9, probability, "high")


def test_long_labels_are_not_cut_off():
    """Issue 21: the label column ran off the picture's left edge for a long value. Every
    label now starts inside the picture: no ink in the leftmost columns, the picture widens."""
    png = render_png(_long_label_picture(0.9957))
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert (pixels[:, :12] < 200).sum() == 0, "ink at the left edge: a label is cut off"
    assert pixels.shape[1] > 760


def test_a_probability_is_never_rounded_to_100_percent():
    """Issue 21: p = 0.9957 was titled "100%". The title (and the PNG's text) says 99.6%."""
    image = Image.open(io.BytesIO(render_png(_long_label_picture(0.9957))))
    assert "99.6%" in image.text["Title"] and "100%" not in image.text["Title"]
    assert "99.6%" in image.text["Description"]
    assert "session_duration_minutes = 1234.5678901234567" in image.text["Description"]
    from api.waterfall import percent

    assert percent(0.5) == "50%" and percent(0.0004) == "0.04%" and percent(1.0) == "100%"
    assert percent(0.99999) == "99.999%" and percent(0.999999) == ">99.99%"
