"""The documentation site builds without a warning, with every tutorial executed (issue 14).

``mkdocs build --strict`` executes the notebooks (tutorials, the model layer by layer, the validation
gallery) and renders the API reference from the docstrings; a failing cell or a broken reference fails it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["tutorials/first_simulation", "tutorials/virtual_trial", "tutorials/switching_hypotheses",
         "tutorials/fitting_a_parameter", "model", "validation"]  # fmt: skip


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env_cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(env_cmd, capture_output=True, text=True, cwd=config.parent, timeout=1200,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = _build(ROOT / "mkdocs.yml", out)
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING") and "IPKernelApp" not in line]
    assert proc.returncode == 0 and not warnings, "\n".join(warnings) + proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("page", PAGES)
def test_every_notebook_page_is_executed_with_figures(site, page):
    html = (site / page / "index.html").read_text()
    n_images = len(re.findall(r'<img[^>]+src="data:image/png;base64,', html))
    assert n_images >= 1, f"{page}: no figure in the executed output"
    assert "Traceback (most recent call last)" not in html  # no error output shown


def test_the_tutorials_print_their_results(site):
    fit = (site / "tutorials/fitting_a_parameter/index.html").read_text()
    m = re.search(r"fitted ([0-9.]+) L/h \(95% CI ([0-9.]+)-([0-9.]+)\); truth 60.0 L/h", fit)
    assert m, "the fitting tutorial did not print its result"
    assert float(m[2]) < 60.0 < float(m[3]) and abs(float(m[1]) - 60.0) < 10.0
    first = (site / "tutorials/first_simulation/index.html").read_text()
    assert "weight: must be within 20-300 kg" in first  # the bad-input cell shows the error, not a traceback


def test_the_api_reference_documents_the_entry_points(site):
    api = (site / "api/index.html").read_text()
    for name in ("ketasim.simulate", "ketasim.compare", "ketasim.trials.Trial", "ketasim.interop.nonmem.to_nonmem",
                 "ketasim.errors.InputError"):  # fmt: skip
        assert f'id="{name}"' in api, name
    assert 'class="language-pycon' in api or "pycon" in api  # doctests rendered as console code


def test_a_failing_notebook_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# t\n")
    (docs / "broken.py").write_text("# %% [markdown]\n# # Broken\n\n# %%\nraise RuntimeError('tutorial is broken')\n")
    config = ROOT / "mkdocs.yml"
    text = config.read_text()
    text = re.sub(r"(?ms)^nav:.*?(?=^markdown_extensions:)", "nav:\n  - Home: index.md\n  - Broken: broken.py\n", text)
    text = text.replace("docs/griffe_doctests.py", str(ROOT / "docs" / "griffe_doctests.py"))
    (tmp_path / "mkdocs.yml").write_text(text.replace("paths: [src]", f"paths: [{ROOT / 'src'}]"))
    proc = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "tutorial is broken" in proc.stdout + proc.stderr


def test_the_readme_links_the_docs_and_shows_the_headline_figure():
    readme = (ROOT / "README.md").read_text()
    assert "![" in readme and "docs/img/headline.png" in readme
    assert (ROOT / "docs" / "img" / "headline.png").stat().st_size > 50_000
    assert "mkdocs build" in readme and "docs/index.md" in readme
    assert shutil.which("mkdocs", path=str(Path(sys.executable).parent)), "the docs extra is not installed"
