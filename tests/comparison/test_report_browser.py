"""The HTML comparison report opened in a real headless browser (Debian's chromium).

chromium is installed by ``.ci/run`` (``scripts/install_browser.sh``). The test
skips only when no chromium is on PATH *and* the environment variable ``CI`` is
unset; under ``CI`` (which ``.ci/run`` sets) a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from maggma.stores import MemoryStore
from monty.json import jsanitize

from macefield_flows.comparison.report import run_compare
from macefield_flows.comparison.synthetic import synthetic_predictions
from macefield_flows.references.ingest import iter_reference_docs


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI (scripts/install_browser.sh installs it)")
    pytest.skip("no chromium on PATH (install Debian's chromium, or run under CI=true to make this a failure)")


def _run(browser: str, *args: str) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--virtual-time-budget=5000", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    refs = []
    for ds in ("mp_dielectric_petousis2017", "petretto2018_dfpt_becs_epsinf"):
        refs += [d.model_dump() for d in iter_reference_docs(ds, rows=range(0, 600, 60))]
    preds = synthetic_predictions(refs, scale=1.1, noise=0.05)
    stores = []
    for name, key, docs in (("p", "task_id", preds), ("r", "reference_id", refs)):
        s = MemoryStore(collection_name=name, key=key)
        s.connect()
        s.update([jsanitize(d, allow_bson=True) for d in docs], key=key)
        stores.append(s)
    return run_compare(stores[0], stores[1], tmp_path_factory.mktemp("html"))


def test_report_renders_table_and_plots(report, tmp_path):
    browser = _chromium()
    url = report.html_path.resolve().as_uri()
    dom = _run(browser, "--dump-dom", url)
    body = re.search(r"<body[^>]*>", dom).group(0)
    rendered = int(re.search(r'data-images-rendered="(\d+)"', body).group(1))
    total = int(re.search(r'data-images-total="(\d+)"', body).group(1))
    assert total == len(report.plots) >= 3 and rendered == total  # every PNG decoded by the browser
    assert int(re.search(r'data-material-rows="(\d+)"', body).group(1)) == len(report.materials) >= 10
    table = dom[dom.index('id="materials"'):]
    assert table.count("<tr>") == len(report.materials) + 1  # header + one row per material
    for m in report.materials:
        assert f">{m['material']}<" in table
    shot = tmp_path / "report.png"
    _run(browser, f"--screenshot={shot}", "--window-size=1400,1800", url)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_sorting_in_the_browser(report):
    """The page's own script sorts the per-material table numerically (link #sort=<column>)."""
    browser = _chromium()
    dom = _run(browser, "--dump-dom", report.html_path.resolve().as_uri() + "#sort=eps_inf%20DFPT")
    table = dom[dom.index('id="materials"'):dom.index("</table>", dom.index('id="materials"'))]
    header = re.findall(r"<th[^>]*>(.*?)</th>", table)
    col = header.index("eps_inf DFPT")
    values = []
    for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]:
        cells = re.findall(r'data-v="([^"]*)"', row)
        if cells[col]:
            values.append(float(cells[col]))
    assert len(values) >= 5 and values == sorted(values)
    assert values != [float(m["eps_inf DFPT"]) for m in report.materials if m["eps_inf DFPT"] is not None]
