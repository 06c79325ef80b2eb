"""The trace's plain-text equations as MathML (Presentation Markup), which browsers render natively.

``net_h1`` becomes net with subscript h1, ``w5+`` w with subscript 5 and superscript +,
``dE_total/dw5`` the fraction of partial derivatives, ``*`` a centred dot, ``x^2`` a superscript,
``eta`` the Greek letter; numbers keep exactly the digits the text trace prints.
"""

from __future__ import annotations

import re
from html import escape

from jaxmlp.activations import ACTIVATIONS

__all__ = ["TOKEN", "FUNCTIONS", "OPERATORS", "name", "derivative", "expression", "equation"]

TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>\d+(?:\.\d+)?(?:e[+-]\d+)?)"
    r"|(?P<derivative>d[A-Za-z_0-9]+/d[A-Za-z_0-9]+(?: via [A-Za-z_0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*'?\+?)"
    r"|(?P<op>[-+*/^()])"
    r")"
)
FUNCTIONS = frozenset(ACTIVATIONS) | {"softmax", "log"}  # names set upright, as functions
OPERATORS = {"*": "\u00b7", "-": "\u2212", "+": "+", "/": "/", "(": "(", ")": ")"}


def _mi(text: str, normal: bool = False) -> str:
    variant = ' mathvariant="normal"' if normal or len(text) > 1 else ""
    return f"<mi{variant}>{escape(text)}</mi>"


def name(token: str) -> str:
    """One quantity's name: ``net_h1``, ``w5+``, ``E_total``, ``b_h1``, ``eta``, ``relu'``."""
    if token == "eta":
        return "<mi>\u03b7</mi>"
    prime = token.endswith("'")
    base = token.rstrip("'")
    if base in FUNCTIONS:
        f = _mi(base, normal=True)
        return f"<msup>{f}<mo>\u2032</mo></msup>" if prime else f
    plus = base.endswith("+")
    base = base.rstrip("+")
    m = re.fullmatch(r"(E|net|out|target|delta)_(.+)", base) or re.fullmatch(
        r"([wbi])_?([A-Za-z0-9_]+)", base
    )
    if not m:
        return _mi(base)
    head, sub = _mi(m.group(1)), _mi(m.group(2))
    if plus:
        return f"<msubsup>{head}{sub}<mo>+</mo></msubsup>"
    return f"<msub>{head}{sub}</msub>"


def derivative(token: str) -> str:
    """``dE_total/dout_h1 via o1`` -> a fraction of partials, with ``via o1`` as a note."""
    via = ""
    if " via " in token:
        token, through = token.split(" via ")
        via = f"<mtext>\u00a0via\u00a0</mtext>{_mi(through)}"
    top, bottom = token.split("/", 1)
    frac = (
        f"<mfrac><mrow><mo>\u2202</mo>{name(top[1:])}</mrow>"
        f"<mrow><mo>\u2202</mo>{name(bottom[1:])}</mrow></mfrac>"
    )
    return frac + via


def expression(text: str) -> str:
    """An expression's tokens as MathML elements (an ``mrow``'s content)."""
    items: list[str] = []
    groups: list[int] = []  # where each open parenthesis's group starts in ``items``
    pos, text = 0, text.strip()
    raise_next = False
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r} in {text!r}")
        pos = m.end()
        kind, tok = m.lastgroup, m.group(m.lastgroup or 0)
        if kind == "number":
            item = f"<mn>{tok}</mn>"
        elif kind == "derivative":
            item = derivative(tok)
        elif kind == "name":
            item = name(tok)
        elif tok == "^":
            raise_next = True
            continue
        elif tok == "(":
            groups.append(len(items))
            items.append("<mo>(</mo>")
            continue
        elif tok == ")" and groups:
            start = groups.pop()
            items[start:] = ["<mrow>" + "".join(items[start:]) + "<mo>)</mo></mrow>"]
            continue
        else:
            item = f"<mo>{OPERATORS[tok]}</mo>"
        if raise_next and items:
            items[-1] = f"<msup>{items[-1]}{item}</msup>"
            raise_next = False
        else:
            items.append(item)
    return "".join(items)


def equation(step_name: str, parts: list[str]) -> str:
    """``name = parts[0]`` and, below it, ``= parts[1] = ...`` as the text trace lays them out:
    two ``<math display="block">`` elements (MathML does not wrap long lines)."""
    lhs = (
        derivative(step_name)
        if re.fullmatch(r"d\S+/d\S+( via \S+)?", step_name)
        else name(step_name)
    )
    first = f'<math display="block"><mrow>{lhs}<mo>=</mo><mrow>{expression(parts[0])}</mrow></mrow></math>'
    rest = "".join(f"<mo>=</mo><mrow>{expression(p)}</mrow>" for p in parts[1:])
    return first + (f'<math display="block"><mrow>{rest}</mrow></math>' if rest else "")
