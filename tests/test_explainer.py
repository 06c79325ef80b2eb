"""The HTML pages, parsed: every step of the text trace in its place, MathML well formed,
nothing fetched from another host, sizes; the training report. (The browser tests are in
test_browser.py.)"""

import functools
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import jax
import jax.numpy as jnp
import pytest

import jaxmlp
from jaxmlp.explain import explainer, trace
from jaxmlp.explain.names import fmt, step_lines
from jaxmlp.explain.steps import Step

from .cli_helpers import run
from .settings import THOROUGH, thorough_only

pytestmark = pytest.mark.float64  # float64 figures and pins (see conftest.py)

NETWORKS = {
    "seed": None,
    "3-4-2 tanh": jaxmlp.MLP((3, 4, 2), "tanh", "softmax", "cross_entropy", "per_neuron"),
    "two hidden layers": jaxmlp.MLP(
        (2, 3, 3, 2), "relu", "logistic", "half_sse", "shared", train_bias=True
    ),
}


@functools.cache
def case(name: str):
    """``(derivation, page)`` of a network with weights and example as ``trace --sizes`` makes them."""
    if NETWORKS[name] is None:
        net, params, x, y = jaxmlp.tutorial(jnp.float64)
        steps = 10_000
    else:
        net = NETWORKS[name]
        params = net.init(jax.random.key(1), jnp.float64)
        x = jnp.linspace(0.1, 0.9, net.sizes[0])
        y = jnp.asarray(1) if net.loss == "cross_entropy" else jnp.full(net.sizes[-1], 0.3)
        steps = 400
    return trace.derive(net, params, x, y, 0.5), trace.to_html(net, params, x, y, 0.5, steps=steps)


class Steps(HTMLParser):
    """Collects each ``<li id="step-k">``'s attributes, its ``<pre>`` text and its raw MathML."""

    def __init__(self, page: str):
        super().__init__()
        self.page, self.steps, self.current, self.in_pre = page, {}, None, False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and (attrs.get("id") or "").startswith("step-"):
            self.current = int(attrs["id"][5:])
            self.steps[self.current] = {"attrs": attrs, "pre": ""}
        self.in_pre = tag == "pre" and self.current is not None

    def handle_endtag(self, tag):
        if tag == "pre":
            self.in_pre = False
        if tag == "li":
            self.current = None

    def handle_data(self, data):
        if self.in_pre:
            self.steps[self.current]["pre"] += data


def step_html(page: str, k: int) -> str:
    return re.search(rf'<li id="step-{k}".*?</li>', page, re.S).group(0)


@pytest.mark.parametrize(
    "name", [n if n == "seed" else pytest.param(n, marks=thorough_only) for n in NETWORKS]
)
def test_every_step_of_the_text_trace_is_in_its_place(name):
    d, page = case(name)
    parsed = Steps(page)
    assert sorted(parsed.steps) == list(range(len(d.steps)))
    text = trace.render_text(d)
    for k, s in enumerate(d.steps):
        line1, line2 = step_lines(s)
        assert parsed.steps[k]["pre"] == f"{line1}\n{line2}"
        # the same lines, padded, are the text trace's
        assert re.search(re.escape(line1.split(" = ", 1)[1]), text)
        assert parsed.steps[k]["attrs"]["data-section"] == s.section
        # every number of the substituted expression and the value, digit for digit, in the MathML
        numbers = re.findall(r"\d+(?:\.\d+)?(?:e[+-]\d+)?", f"{s.substituted} {fmt(s.value)}")
        shown = re.findall(r"<mn>([^<]+)</mn>", step_html(page, k))
        for number in numbers:
            assert number in shown, (s.name, number, shown)


@thorough_only
@pytest.mark.parametrize(
    "name",
    list(NETWORKS),
)
def test_mathml_is_well_formed_and_nothing_comes_from_another_host(name):
    _, page = case(name)
    maths = re.findall(r"<math\b.*?</math>", page, re.S)
    assert len(maths) >= len(Steps(page).steps)
    for m in maths:
        root = ET.fromstring(m)
        assert root.tag == "math" and root.get("display") == "block"
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"url\(|@import|<link\b|<iframe\b|\bfetch\(|XMLHttpRequest", page)
    assert "<script src" not in page
    assert len(page.encode()) < 1_000_000


def test_the_seed_page_is_small_and_carries_the_errata():
    _, page = case("seed")
    assert len(page.encode()) < 1_000_000  # with the 10,000-step training panel
    assert "0.291027774" in page and "0.291027924" in page  # E_total after one round, both orders
    assert 'id="order"' in page and 'aria-pressed="false"' in page
    assert "erratum: matches" in page


def test_the_drawing_names_every_neuron_and_weight():
    d, page = case("two hidden layers")
    for n in ("i1", "i2", "h1_1", "h1_3", "h2_1", "h2_3", "o1", "o2", "b1", "b2", "b3"):
        assert f'id="n-{n}"' in page
    n_weights = sum(len(w) * len(w[0]) for w in d.weights)
    for k in range(1, n_weights + 1):
        assert f'data-param="w{k}"' in page and f">w{k} = " in page
    # hovering w1 tells its value, gradient and update, as the derivation computed them
    label = re.search(r'data-param="w1"[^>]*aria-label="([^"]+)"', page).group(1)
    assert fmt(d.value("dE_total/dw1")) in label and fmt(d.value("w1+")) in label


@thorough_only
def test_wide_layers_are_thinned_and_every_value_stays_reachable():
    net = jaxmlp.MLP((3, 30, 2), "tanh")
    params = net.init(jax.random.key(0), jnp.float64)
    page = trace.to_html(net, params, jnp.full(3, 0.5), jnp.full(2, 0.2), steps=50)
    assert "\u22ee 19 more" in page  # 11 of 30 neurons drawn
    drawn = set(re.findall(r'<g class="edge"[^>]*data-param="(w\d+)"', page))
    assert 0 < len(drawn) < 30 * 3 + 2 * 30
    for k in range(1, 3 * 30 + 30 * 2 + 1):  # all in the parameters table
        assert f'<td class="name">w{k}</td>' in page
    assert ">w1 = " not in page  # past MAX_LABELLED edges, labels only on hover and focus


def test_involved_names_the_neurons_and_parameters_of_a_step():
    step = Step("s", "dE_total/dw13", "dE_total/dnet_o1 * dnet_o1/dw13", "", 0.0)
    assert explainer.involved(step, ["o1", "o2"]) == (["o1"], ["w13"])
    step = Step("s", "dE_total/dout_h1", "dE_total/dout_h1 via o1 + dE_total/dout_h1 via o2", "", 0)
    assert explainer.involved(step, ["o1", "o2"]) == (["h1", "o1", "o2"], [])


def test_trace_format_html_on_the_command_line(capsys, tmp_path):
    out = tmp_path / "trace.html"
    code, _, err = run(capsys, "trace", "--format", "html", "--output", str(out), "--steps", "100")
    assert code == 0 and "wrote" in err
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    code, stdout, _ = run(
        capsys, "trace", "--format", "markdown", "--output", str(tmp_path / "t.md")
    )
    assert (
        code == 0
        and stdout == ""
        and (tmp_path / "t.md").read_text().startswith("# Backpropagation")
    )


def test_train_report_for_two_inputs_and_for_digits(capsys, tmp_path):
    page_path = tmp_path / "xor.html"
    code, _, err = run(
        capsys,
        "train",
        "xor",
        "--steps",
        "300",
        "--validation-fraction",
        "0.25",
        "--report",
        str(page_path),
    )
    assert code == 0, err
    page = page_path.read_text()
    for needed in (
        "Decision surface",
        "Hidden neurons",
        "Confusion matrix",
        "validation",
        "final_loss",
    ):
        assert needed in page
    assert len(re.findall(r'<svg class="heatmap"', page)) == 1 + 5  # the output and h1..h5
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    if not THOROUGH:  # a classifier without two inputs: the thorough run
        return
    digits = tmp_path / "digits.html"
    code, _, err = run(capsys, "train", "digits", "--steps", "50", "--report", str(digits))
    assert code == 0, err
    page = digits.read_text()
    assert "Confusion matrix (test set)" in page and "Decision surface" not in page
    assert page.count("<tr>") >= 11  # ten classes and the header
