"""SamplingExplorer in a real JupyterLab + headless Chromium: one Step grows the sample,
a click on an unsampled die adds it by hand, and the kernel sees both; no error in the
browser console.

Screenshots of every step: tests/_artifacts/browser/<test name>/.
"""

from __future__ import annotations

import pytest

from .harness import Lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = """\
import fabnb
from fabnb.widgets import SamplingExplorer
ds = fabnb.synth.fab("small", seed=0)
ex = SamplingExplorer(ds, test="T01", method="gp-ps", size=220)
ex
"""


def _n_sampled(explorer) -> int:
    return int(explorer.locator(".fabnb-n-sampled").inner_text())


def test_sampling_explorer_step_and_click(page, jupyter_server, artifacts):
    write_notebook(jupyter_server.root / "sampling_e2e.ipynb",
                   [SETUP, 'print("N_SAMPLED", ex.n_sampled)'])
    lab = Lab(page, jupyter_server, artifacts)
    lab.open("sampling_e2e.ipynb")
    lab.run_all()
    explorer = lab.cell(0).locator(".fabnb-sampling-explorer")
    explorer.scroll_into_view_if_needed()
    maps = explorer.locator(".fabnb-wafermap[data-renders]")
    maps.nth(3).wait_for()
    assert maps.count() == 4
    first = _n_sampled(explorer)
    assert f"N_SAMPLED {first}" in lab.output_text(1)
    lab.shot("explorer-start", explorer)

    explorer.get_by_role("button", name="Step").click()
    page.wait_for_function("([el, n]) => +el.querySelector('.fabnb-n-sampled').textContent > n",
                           arg=[explorer.element_handle(), first])
    stepped = _n_sampled(explorer)
    lab.shot("explorer-stepped", explorer)
    lab.run_cell(1)
    assert f"N_SAMPLED {stepped}" in lab.output_text(1)

    # click an unsampled die on the measured map: added by hand, the GP refits
    measured = maps.nth(0)
    measured.scroll_into_view_if_needed()
    sampled = set(measured.evaluate("el => el.fabnbSelection()"))
    die = next(i for i in range(40, 400) if i not in sampled)
    pos = measured.evaluate("(el, i) => el.fabnbDieClientXY(i)", die)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_function("([el, n]) => +el.querySelector('.fabnb-n-sampled').textContent > n",
                           arg=[explorer.element_handle(), stepped])
    lab.shot("explorer-clicked", explorer)
    assert die in measured.evaluate("el => el.fabnbSelection()")
    lab.run_cell(1)
    assert f"N_SAMPLED {stepped + 1}" in lab.output_text(1)
    assert page.fabnb_errors == []  # no error in the browser console
