"""Code generated from the model definition: numpy functions and the compiled (numba) kernel.

:func:`load` returns the generated code for a tuple of layer modules. The first time (per machine and
per version of the layer sources) it traces the layers (``_definition.trace``), analyses the traced
model and writes two readable Python modules into the cache directory (``KETASIM_CACHE_DIR``, else
``$XDG_CACHE_HOME/ketasim`` or ``~/.cache/ketasim``), one folder per key:

* ``numpy_model.py`` — vectorised functions over patients: ``pack`` (the per-patient constants and the
  ones derived from them, computed once), ``rhs`` (the reference right-hand side of every state after
  the PK amounts), ``observe`` (any signal or output, computing only what the request needs), and the
  coefficient matrices of the linear block (``linear_jacobian``, ``linear_signal_matrix``).
* ``kernel.py`` — the same equations as scalar numba functions for one patient, the compiled
  engine's right-hand side: ``rhs`` (all states; PK through the sparse rate matrix), and the parts the
  exact modal solution needs: ``lin_signals``, ``lin_rhs`` and ``pd_rhs``; and ``pd_diagonal``, the
  diagonal of the stepped states' Jacobian, for the exponential integrator.

Later processes import the modules without tracing (the key hashes the layer sources, this module,
``_definition`` and the sympy version). Constant subexpressions (``ki * scale``, ``ec50 ** hill``,
``g / (1 + g j)``) are hoisted into per-patient derived constants, and common subexpressions are
computed once (sympy ``cse``).

The **linear block** is what the engine can solve exactly between events: the compartmental PK
amounts plus the states right after them whose rate is linear in the block with constant coefficients
and driven by it (the brain effect sites). The rest of the model reads the block only through its
states and through *interface signals* (e.g. psilocin plasma concentration), linear functions of it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import keyword
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from ketasim._internal.files import atomic_write_text
from ketasim.errors import ModelError
from ketasim.model import _definition
from ketasim.model._definition import EXTERNALS, Definition, trace
from ketasim.parameters import ParameterSet

__all__ = ["Generated", "analyse", "cache_root", "diagonal", "load", "numba_source", "numpy_source"]

GENERATOR_VERSION = "1"
_RESERVED = {
    "y",
    "u",
    "p",
    "dy",
    "lin",
    "ext",
    "np",
    "math",
    "need",
    "out",
    "names",
    "kv",
    "kr",
    "kc",
    "n_pk",
    *EXTERNALS,
}


def cache_root() -> Path:
    """Where generated code is kept (one folder per key)."""
    env = os.environ.get("KETASIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ketasim"


# ------------------------------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class Analysis:
    """What the generators need to know about a traced model."""

    definition: Definition
    n_pk: int
    linear: tuple[str, ...]  # the linear block: compartmental states, then the states driven by them
    linear_signals: tuple[str, ...]  # every signal that is a linear function of the block
    interface: tuple[str, ...]  # linear signals the rest of the model reads (kernel ``lin`` order)
    fields: tuple[str, ...]  # per-patient constants, registration order, then derived ones
    derived: tuple[tuple[Any, Any], ...]  # (symbol, expression of constants)
    signals: tuple[tuple[Any, Any], ...]  # (symbol, hoisted expression), definition order
    rates: Mapping[str, Any]  # state -> hoisted expression
    full: Mapping[str, Any]  # linear signal / linear state -> expression in states and constants only


def analyse(defn: Definition) -> Analysis:
    """Classify states and signals, hoist constant subexpressions (see the module doc)."""
    import sympy

    sym = sympy.Symbol
    consts = {sym(n) for n in defn.constants}
    states = list(defn.states)
    compartmental = [n for n in states if defn.states[n].compartmental]
    if states[: len(compartmental)] != compartmental:
        raise ModelError("compartmental (PK) states must come first in the state order")
    for name in [*defn.constants, *defn.states, *(s.name for s in defn.signals)]:
        if not name.isidentifier() or keyword.iskeyword(name) or name in _RESERVED or name.startswith("_"):
            raise ModelError(f"{name!r} cannot be used as a model name (reserved or not an identifier)")

    sig_expr = {s.name: s.expr for s in defn.signals}
    expanded: dict[str, Any] = {}

    def expand(expr: Any) -> Any:
        """``expr`` with every signal replaced by its definition (states, constants, stress only)."""
        subs = {}
        for s in expr.free_symbols:
            if s.name in sig_expr:
                if s.name not in expanded:
                    expanded[s.name] = expand(sig_expr[s.name])
                subs[s] = expanded[s.name]
        return expr.xreplace(subs) if subs else expr

    def linear_in(expr: Any, variables: set[Any]) -> bool:
        """True if ``expr`` = sum of (constant coefficient) x (variable), with no other term."""
        free = expr.free_symbols - consts
        if not free <= variables:
            return False
        coefficients = {v: sympy.diff(expr, v) for v in free}
        if any(not (c.free_symbols <= consts) for c in coefficients.values()):
            return False
        rest = sympy.expand(expr - sum(c * v for v, c in coefficients.items()))
        return rest == 0

    block = {sym(n) for n in compartmental}
    linear = list(compartmental)
    full: dict[str, Any] = {}
    for name in states[len(compartmental) :]:
        rate = expand(defn.rates[name])
        reads_pk = bool(rate.free_symbols & {sym(n) for n in compartmental})
        if not (reads_pk and linear_in(rate, block | {sym(name)})):
            break
        block.add(sym(name))
        linear.append(name)
        full[name] = rate
    # what each signal reads, transitively (cheap: no expansion), so that only candidates are expanded
    reads: dict[str, set[str]] = {}
    for s in defn.signals:
        r: set[str] = set()
        for f in s.expr.free_symbols:
            r |= reads.get(f.name, {f.name})
        reads[s.name] = r
    block_names = {b.name for b in block} | set(defn.constants)
    linear_signals = []
    for s in defn.signals:
        if not reads[s.name] <= block_names:
            continue
        e = expand(s.expr)
        if e.free_symbols - consts and linear_in(e, block):
            linear_signals.append(s.name)
            full[s.name] = e

    # the interface: linear signals read directly by anything that computes a non-linear rate
    nonlinear = [n for n in states if n not in linear]
    interface: list[str] = []
    seen: set[str] = set()
    stack = [defn.rates[n] for n in nonlinear]
    while stack:
        for s in stack.pop().free_symbols:
            name = s.name
            if name in seen:
                continue
            seen.add(name)
            if name in sig_expr:
                if name in linear_signals:
                    interface.append(name)
                else:
                    stack.append(sig_expr[name])
            elif name in compartmental:
                raise ModelError(f"a non-linear equation reads the PK amount {name!r} directly; read a signal")
    order = {s.name: i for i, s in enumerate(defn.signals)}
    interface.sort(key=order.__getitem__)

    table: dict[Any, Any] = {}
    derived: list[tuple[Any, Any]] = []

    def constant(e: Any) -> Any:
        if e not in table:
            table[e] = sym(f"_k{len(derived)}")
            derived.append((table[e], e))
        return table[e]

    def hoist(e: Any) -> Any:
        if e.is_Atom:
            return e
        if e.free_symbols and e.free_symbols <= consts and not isinstance(e, sympy.logic.boolalg.Boolean):
            return constant(e)
        if isinstance(e, sympy.Add | sympy.Mul):
            fixed = [a for a in e.args if a.free_symbols <= consts]
            varying = [a for a in e.args if not a.free_symbols <= consts]
            if len(fixed) >= 2 and varying:
                folded = e.func(*fixed)
                head = constant(folded) if not folded.is_Number else folded
                return e.func(head, *(hoist(a) for a in varying))
        return e.func(*(hoist(a) for a in e.args))

    signals = tuple((sym(s.name), hoist(s.expr)) for s in defn.signals)
    rates = {n: hoist(e) for n, e in defn.rates.items()}
    fields = (*defn.constants, *(str(s) for s, _ in derived))
    return Analysis(
        definition=defn,
        n_pk=len(compartmental),
        linear=tuple(linear),
        linear_signals=tuple(linear_signals),
        interface=tuple(interface),
        fields=fields,
        derived=tuple(derived),
        signals=signals,
        rates=rates,
        full=full,
    )


# ------------------------------------------------------------------------------------------ printing


class _Printer:
    """sympy expression -> Python source, for numba (scalars) or numpy (arrays)."""

    def __init__(self, target: str) -> None:
        import sympy

        self.sp = sympy
        self.numpy = target == "numpy"

    def __call__(self, e: Any) -> str:
        sp = self.sp
        if isinstance(e, sp.Symbol):
            return e.name
        if e.is_Number:
            v = float(e)
            return repr(v) if v >= 0 else f"({v!r})"
        if isinstance(e, sp.Add):
            terms = list(e.args)
            terms.sort(key=lambda a: a.could_extract_minus_sign())  # positive terms first
            out = self._term(terms[0])
            for a in terms[1:]:
                if a.could_extract_minus_sign():
                    out += f" - {self._term(-a)}"
                else:
                    out += f" + {self._term(a)}"
            return f"({out})"
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            base, exp = e.args
            if exp == sp.Rational(1, 2):
                return f"{'np' if self.numpy else 'math'}.sqrt({self(base)})"
            if exp.is_Number and exp < 0:
                return f"(1.0 / {self(sp.Pow(base, -exp))})"
            if exp.is_Integer:
                return f"{self._atom(base)} ** {int(exp)}"
            return f"{self._atom(base)} ** {self._atom(exp)}"
        if isinstance(e, sp.exp):
            return f"{'np' if self.numpy else 'math'}.exp({self(e.args[0])})"
        if isinstance(e, sp.Max | sp.Min):
            fn = ("np.maximum" if isinstance(e, sp.Max) else "np.minimum") if self.numpy else (
                "max" if isinstance(e, sp.Max) else "min")  # fmt: skip
            args = [self(a) for a in e.args]
            out = args[-1]
            for a in reversed(args[:-1]):
                out = f"{fn}({a}, {out})"
            return out
        if isinstance(e, sp.Piecewise):
            *pairs, last = e.args
            if last.cond is not sp.true:
                raise ModelError(f"a Piecewise without a default: {e}")
            out = self(last.expr)
            for pair in reversed(pairs):
                value, c = self(pair.expr), self(pair.cond)
                out = f"np.where({c}, {value}, {out})" if self.numpy else f"({value} if {c} else {out})"
            return out
        if isinstance(e, sp.core.relational.Relational):
            return f"({self(e.lhs)} {e.rel_op} {self(e.rhs)})"
        if isinstance(e, sp.And | sp.Or):
            op = (" & " if isinstance(e, sp.And) else " | ") if self.numpy else (
                " and " if isinstance(e, sp.And) else " or ")  # fmt: skip
            return "(" + op.join(self(a) for a in e.args) + ")"
        raise ModelError(f"cannot generate code for {type(e).__name__}: {e}")

    def _atom(self, e: Any) -> str:
        s = self(e)
        return s if (e.is_Symbol or (e.is_Number and float(e) >= 0) or s.startswith("(")) else f"({s})"

    def _term(self, e: Any) -> str:
        return self(e)

    def _mul(self, e: Any) -> str:
        sp = self.sp
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if isinstance(f, sp.Pow) and f.exp.is_Number and f.exp < 0:
                den.append(sp.Pow(f.base, -f.exp))
            else:
                num.append(f)
        sign = ""
        if coeff < 0:
            sign, coeff = "-", -coeff
        parts = [] if coeff == 1 else [self(coeff)]
        parts += [self._atom(f) for f in num]
        text = " * ".join(parts) if parts else "1.0"
        if den:
            d = " * ".join(self._atom(f) for f in den)
            text = f"{text} / ({d})" if len(den) > 1 else f"{text} / {d}"
        return f"({sign}{text})" if sign else text


# ------------------------------------------------------------------------------------ statement lists


def _closure(a: Analysis, targets: Iterable[Any], stop: Iterable[str] = ()) -> list[tuple[Any, Any]]:
    """The signal assignments ``targets`` depend on, in definition order (not descending past ``stop``)."""
    exprs = dict(a.signals)
    by_name = {s.name: s for s, _ in a.signals}
    stop = set(stop)
    need: set[str] = set()
    stack = list(targets)
    while stack:
        for s in stack.pop().free_symbols:
            if s.name in by_name and s.name not in need and s.name not in stop:
                need.add(s.name)
                stack.append(exprs[by_name[s.name]])
    return [(s, e) for s, e in a.signals if s.name in need]


def _cse(assignments: list[tuple[Any, Any]], outputs: list[Any]) -> tuple[list[tuple[Any, Any]], list[Any]]:
    """Common subexpressions of ``assignments`` and ``outputs``, each temporary placed just before its
    first use, so that every assignment stays after the signals it reads."""
    import sympy

    exprs = [e for _, e in assignments] + list(outputs)
    temps, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_t"), order="none")
    placed: set[Any] = set()
    temp_expr = dict(temps)
    out: list[tuple[Any, Any]] = []

    def place(expr: Any) -> None:
        for s in sorted(expr.free_symbols, key=str):
            if s in temp_expr and s not in placed:
                place(temp_expr[s])
                placed.add(s)
                out.append((s, temp_expr[s]))

    for (sym, _), e in zip(assignments, reduced[: len(assignments)], strict=True):
        place(e)
        out.append((sym, e))
    finals = reduced[len(assignments) :]
    for e in finals:
        place(e)
    return out, finals


def _loads(a: Analysis, used: set[str], y: str, p: str) -> list[str]:
    """Local names for the states and constants an expression list reads."""
    state_index = {n: i for i, n in enumerate(a.definition.states)}
    field_index = {n: i for i, n in enumerate(a.fields)}
    lines = [f"{n} = {y}[{state_index[n]}]" for n in a.definition.states if n in used]
    lines += [f"{n} = ext[{i}]" for i, n in enumerate(EXTERNALS) if n in used]
    lines += [f"{n} = {p}[{field_index[n]}]" for n in a.fields if n in used]
    return lines


def _names(exprs: Iterable[Any]) -> set[str]:
    used: set[str] = set()
    for e in exprs:
        used |= {s.name for s in e.free_symbols}
    return used


def _body(a: Analysis, printer: _Printer, targets: list[tuple[str, Any]], stop: Sequence[str] = (),
          provided: Mapping[str, str] | None = None, y: str = "y", p: str = "p") -> list[str]:  # fmt: skip
    """Statements computing ``targets`` ((left-hand side, expression) pairs)."""
    assignments = _closure(a, [e for _, e in targets], stop)
    stmts, finals = _cse(assignments, [e for _, e in targets])
    used = _names([e for _, e in stmts] + finals)
    lines = _loads(a, used, y, p)
    for name, source in (provided or {}).items():
        if name in used:
            lines.append(f"{name} = {source}")
    lines += [f"{s.name} = {printer(e)}" for s, e in stmts]
    lines += [f"{lhs} = {printer(e)}" for (lhs, _), e in zip(targets, finals, strict=True)]
    return lines


def _indent(lines: Iterable[str], n: int = 4) -> str:
    return "\n".join(" " * n + line for line in lines)


def _observe_plan(
    a: Analysis,
) -> tuple[list[tuple[Any, Any]], dict[str, list[int]], list[str], dict[str, list[int]]]:
    """Every signal as guarded statements (with common subexpressions), which statements each
    observable name needs, the observable names (signals, states, the stress load), and which states
    each observable name reads (directly or through the statements it needs), by index."""
    stmts, _ = _cse(list(a.signals), [])
    index = {n: i for i, n in enumerate(a.definition.states)}
    deps: dict[str, set[int]] = {}
    reads: dict[str, set[int]] = {}
    for i, (sym, e) in enumerate(stmts):
        d, r = {i}, set()
        for f in e.free_symbols:
            d |= deps.get(f.name, set())
            r |= reads.get(f.name, {index[f.name]} if f.name in index else set())
        deps[sym.name], reads[sym.name] = d, r
    observable = [s.name for s in a.definition.signals] + list(a.definition.states) + list(EXTERNALS)
    state_reads = {name: sorted(reads.get(name, {index[name]} if name in index else set())) for name in observable}
    return stmts, {name: sorted(deps.get(name, set())) for name in observable}, observable, state_reads


# ----------------------------------------------------------------------------------------- numba


_HEADER = '''"""Generated by ketasim.model._codegen from the model definition (key {key}); do not edit.

{what}
"""
# ruff: noqa
'''


def numba_source(a: Analysis, key: str) -> str:
    """The compiled kernel: scalar functions of one patient (see the module doc)."""
    pr = _Printer("numba")
    defn = a.definition
    idx = {n: i for i, n in enumerate(defn.states)}
    n_lin = len(a.linear)
    nonlinear = [n for n in defn.states if n not in a.linear]
    lin_states = a.linear[a.n_pk :]
    provided = {name: f"lin[{i}]" for i, name in enumerate(a.interface)}
    jit = "@njit(cache=True, nogil=True, fastmath=FASTMATH)"
    pd_targets = [(f"dy[{idx[n]}]", a.rates[n]) for n in nonlinear]
    lin_targets = [(f"dy[{idx[n]}]", a.rates[n]) for n in lin_states]
    if_targets = [(f"lin[{i}]", dict(a.signals)[_symbol(a, n)]) for i, n in enumerate(a.interface)]
    diag_targets = [(f"d[{idx[n]}]", e) for n, e in diagonal(a).items()]
    parts = [
        _HEADER.format(key=key, what="Scalar right-hand side of one patient for the compiled engine."),
        "import math\n\nimport numpy as np\nfrom numba import njit, prange\n",
        f"N_STATES = {len(defn.states)}",
        f"N_PK = {a.n_pk}",
        f"N_LINEAR = {n_lin}",
        f"N_INTERFACE = {len(a.interface)}",
        f"N_EXTERNALS = {len(EXTERNALS)}",
        f"N_FIELDS = {len(a.fields)}",
        "#: reassociation and FMA (vectorised loops) but not nnan/ninf: NaN and inf keep their IEEE meaning",
        'FASTMATH = {"reassoc", "contract", "arcp", "nsz"}\n',
        jit,
        "def lin_signals(y, p, lin):  # pragma: no cover",
        '    """The interface signals (' + ", ".join(a.interface) + ') from the linear block."""',
        _indent(_body(a, pr, if_targets) or ["pass"]),
        "\n",
        jit,
        "def lin_rhs(y, u, p, dy):  # pragma: no cover",
        '    """d/dt of the linear block after the PK amounts (' + ", ".join(lin_states) + ')."""',
        _indent(_body(a, pr, lin_targets) or ["pass"]),
        f"    for i in range({a.n_pk}, {n_lin}):",
        "        dy[i] += u[i]",
        "\n",
        jit,
        "def pd_rhs(y, u, lin, ext, p, dy):  # pragma: no cover",
        '    """d/dt of every state after the linear block, given the interface signals ``lin``."""',
        _indent(_body(a, pr, pd_targets, stop=a.interface, provided=provided) or ["pass"]),
        f"    for i in range({n_lin}, {len(defn.states)}):",
        "        dy[i] += u[i]",
        "\n",
        jit,
        "def pd_diagonal(y, u, lin, ext, p, d):  # pragma: no cover",
        '    """d(rate)/d(state) of every state after the linear block (the Jacobian\'s diagonal there)."""',
        _indent(_body(a, pr, diag_targets, stop=a.interface, provided=provided) or ["pass"]),
        "\n",
        *_observe_numba(a, pr),
        jit,
        "def rhs(y, u, ext, p, kv, kr, kc, dy):  # pragma: no cover",
        '    """d/dt of every state: PK through the sparse rate matrix (values kv at rows kr, columns kc)."""',
        f"    for i in range({a.n_pk}):",
        "        dy[i] = u[i]",
        "    for k in range(kv.shape[0]):",
        "        dy[kr[k]] += kv[k] * y[kc[k]]",
        f"    lin = np.empty({max(len(a.interface), 1)})",
        "    lin_signals(y, p, lin)",
        "    lin_rhs(y, u, p, dy)",
        "    pd_rhs(y, u, lin, ext, p, dy)",
        "",
    ]
    return "\n".join(parts)


def diagonal(a: Analysis) -> dict[str, Any]:
    """d(rate)/d(state) of each state after the linear block, through every signal it reads (the
    interface signals are functions of the linear block only, so constant here): the diagonal of the
    stepped states' Jacobian, which the exponential integrator treats exactly."""
    import sympy

    exprs = dict(a.signals)
    by_name = {s.name: s for s in exprs}
    interface = set(a.interface)
    memo: dict[tuple[str, Any], Any] = {}

    def d(e: Any, x: Any) -> Any:
        total = sympy.diff(e, x)
        for s in e.free_symbols:
            if s.name in by_name and s.name not in interface:
                key = (s.name, x)
                if key not in memo:
                    memo[key] = d(exprs[by_name[s.name]], x)
                if memo[key] != 0:
                    total += sympy.diff(e, s) * memo[key]
        # Max/Min differentiate to Heaviside steps: print them as the branches they are
        return total.replace(sympy.Heaviside, lambda x, *_: sympy.Piecewise((1, x > 0), (0, True)))

    return {n: d(a.rates[n], sympy.Symbol(n)) for n in a.definition.states if n not in a.linear}


def _observe_numba(a: Analysis, pr: _Printer) -> list[str]:
    import sympy

    stmts, _deps, _observable, _reads = _observe_plan(a)
    # states, constants and stress read in place (y[i], p[j], ext[e]), so that an output time loads
    # only what the flagged statements read; every statement's value also lands in v for the gather
    state_index = {n: i for i, n in enumerate(a.definition.states)}
    field_index = {n: i for i, n in enumerate(a.fields)}
    direct = {sympy.Symbol(n): sympy.Symbol(f"y[{i}]") for n, i in state_index.items()}
    direct |= {sympy.Symbol(n): sympy.Symbol(f"p[{i}]") for n, i in field_index.items()}
    direct |= {sympy.Symbol(n): sympy.Symbol(f"ext[{i}]") for i, n in enumerate(EXTERNALS)}
    # (a sympy Symbol is also a Boolean: a statement that only renames a state is a number)
    condition = [isinstance(e, sympy.logic.boolalg.Boolean) and not e.is_Symbol for _, e in stmts]
    body = []
    for (sym, _), cond in zip(stmts, condition, strict=True):  # defined on every path (numba types each once)
        body.append(f"{sym.name} = {'False' if cond else '0.0'}")
    for i, ((sym, e), cond) in enumerate(zip(stmts, condition, strict=True)):
        body += [f"if need[{i}]:", f"    {sym.name} = {pr(e.xreplace(direct))}"]
        if not cond:
            body.append(f"    v[{i}] = {sym.name}")
    n_stmt, n_state = len(stmts), len(state_index)
    body += [
        "for q in range(cols.shape[0]):",
        "    k = cols[q]",
        f"    if k < {n_stmt}:",
        "        out[q] = v[k]",
        f"    elif k < {n_stmt + n_state}:",
        f"        out[q] = y[k - {n_stmt}]",
        "    else:",
        f"        out[q] = ext[k - {n_stmt + n_state}]",
    ]
    return [
        f"N_STATEMENTS = {n_stmt}\n",
        "@njit(cache=True, nogil=True, fastmath=FASTMATH)",
        "def observe_point(y, ext, p, need, cols, v, out):  # pragma: no cover",
        '    """Output q into out[q] from its source cols[q] (numpy_model.SOURCE: statement k < N_STATEMENTS,',
        "    whose value is kept in v[k], then the states, then the external inputs); only the statements",
        '    flagged in ``need`` are computed."""',
        _indent(body),
        "\n",
        "@njit(cache=True, parallel=True)",
        "def observe_all(Y, X, par, need, cols, out):  # pragma: no cover",
        '    """observe_point at every (patient, time): Y (P, T, n), X (P, T, n_ext), par (P, n_fields),',
        '    out (k, P, T)."""',
        "    for i in prange(Y.shape[0]):",
        "        buf = np.empty(out.shape[0])",
        f"        v = np.empty({max(n_stmt, 1)})",
        "        for t in range(Y.shape[1]):",
        "            observe_point(Y[i, t], X[i, t], par[i], need, cols, v, buf)",
        "            for j in range(out.shape[0]):",
        "                out[j, i, t] = buf[j]",
        "\n",
    ]


def _sources(a: Analysis, stmts: list[tuple[Any, Any]], observable: list[str]) -> dict[str, int]:
    """Observable name -> index into the statements, then the states, then the external inputs."""
    statement = {sym.name: i for i, (sym, _) in enumerate(stmts)}
    state = {n: len(stmts) + i for i, n in enumerate(a.definition.states)}
    external = {n: len(stmts) + len(state) + i for i, n in enumerate(EXTERNALS)}
    source = {name: statement.get(name, state.get(name, external.get(name, -1))) for name in observable}
    missing = [name for name, k in source.items() if k < 0]
    if missing:  # pragma: no cover - every observable is a signal's statement, a state or an input
        raise ModelError(f"the observer has no statement for {missing}")
    return source


def _symbol(a: Analysis, name: str) -> Any:
    for s, _ in a.signals:
        if s.name == name:
            return s
    raise ModelError(f"unknown signal {name!r}")


# ----------------------------------------------------------------------------------------- numpy


def numpy_source(a: Analysis, key: str) -> str:
    """Vectorised functions over patients (constants are rows of ``p``, patients on the last axis)."""
    import sympy

    pr = _Printer("numpy")
    defn = a.definition
    nc = [n for n in defn.states if not defn.states[n].compartmental]
    rate_targets = [(f"dy[{i}]", a.rates[n]) for i, n in enumerate(nc)]
    stmts, dep_table, observable, state_reads = _observe_plan(a)
    field_index = {n: i for i, n in enumerate(a.fields)}

    # coefficient matrices of the linear block
    block = [sympy.Symbol(n) for n in a.linear]
    jac_lines, sig_lines = [], []
    for i, n in enumerate(a.linear[a.n_pk :]):
        for j, v in enumerate(block):
            c = sympy.diff(a.full[n], v)
            if c != 0:
                jac_lines.append(f"out[{i}, {j}] = {pr(c)}")
    for i, n in enumerate(a.linear_signals):
        for j, v in enumerate(block):
            c = sympy.diff(a.full[n], v)
            if c != 0:
                sig_lines.append(f"out[{i}, {j}] = {pr(c)}")
    const_used = _names([sympy.diff(a.full[n], v) for n in (*a.linear[a.n_pk :], *a.linear_signals) for v in block])
    base = list(defn.constants)
    derived_lines = _loads(a, _names([e for _, e in a.derived]) & set(base), "y", "p")
    derived_lines += [f"{s} = p[{field_index[str(s)]}] = {pr(e)}" for s, e in a.derived]

    parts = [
        _HEADER.format(key=key, what="Vectorised model functions (patients on the last axis)."),
        "import numpy as np\n",
        f"KEY = {key!r}",
        f"STATE_NAMES = {tuple(defn.states)!r}",
        f"N_PK = {a.n_pk}",
        f"LINEAR_STATES = {a.linear!r}",
        f"LINEAR_SIGNALS = {a.linear_signals!r}",
        f"INTERFACE = {a.interface!r}",
        f"CONSTANTS = {tuple(base)!r}",
        f"FIELDS = {a.fields!r}",
        f"OUTPUTS = {tuple(defn.outputs)!r}",
        f"DISPLAY_UNITS = {dict(defn.outputs)!r}",
        f"OBSERVABLE = {tuple(observable)!r}",
        f"EXTERNALS = {EXTERNALS!r}",
        f"N_STATEMENTS = {len(stmts)}",
        "#: for each observable name, where kernel.observe_point finds it: statement, state or external input",
        f"SOURCE = {_sources(a, stmts, observable)!r}",
        "#: for each observable name, the statements of kernel.observe_point it needs",
        f"DEPS = {dep_table!r}",
        "#: for each observable name, the states (indices) it reads: an output time need interpolate no other",
        f"STATE_DEPS = {state_reads!r}\n\n",
        "def pack(values):",
        '    """Per-patient constants ``{name: (P,) array}`` -> (len(FIELDS), P), derived constants included."""',
        "    n = len(values[CONSTANTS[0]])",
        "    p = np.empty((len(FIELDS), n))",
        "    for i, name in enumerate(CONSTANTS):",
        "        p[i] = values[name]",
        _indent(derived_lines, 4) if derived_lines else "",
        "    return p\n\n",
        "def rhs(y, ext, p):",
        '    """d/dt of every state after the PK amounts; y (n_states, P), ext (n_ext, P) -> (n - N_PK, P)."""',
        f"    dy = np.empty(({len(nc)},) + np.shape(y[0]))",
        _indent(_body(a, pr, rate_targets)),
        "    return dy\n\n",
        "def linear_jacobian(p):",
        '    """d(rate)/d(state) of the linear block after the PK amounts: (n, len(LINEAR_STATES), P)."""',
        f"    out = np.zeros(({len(a.linear) - a.n_pk}, {len(a.linear)}) + np.shape(p[0]))",
        _indent(_loads(a, const_used, "y", "p")),
        _indent(jac_lines),
        "    return out\n\n",
        "def linear_signal_matrix(p):",
        '    """Coefficients of LINEAR_SIGNALS on the linear block: (len(LINEAR_SIGNALS), len(LINEAR_STATES), P)."""',
        f"    out = np.zeros(({len(a.linear_signals)}, {len(a.linear)}) + np.shape(p[0]))",
        _indent(_loads(a, const_used, "y", "p")),
        _indent(sig_lines),
        "    return out",
        "",
    ]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------- loading


class Generated:
    """The generated code of one model: the numpy module's names, plus the numba kernel on demand."""

    def __init__(self, key: str, directory: Path, numpy_module: ModuleType) -> None:
        self.key = key
        self.directory = directory
        self._np = numpy_module
        self._kernel: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._np, name)

    def kernel(self) -> ModuleType:
        """The numba kernel module (imports numba; compiled on first call, cached on disk)."""
        if self._kernel is None:
            self._kernel = _import(self.directory / "kernel.py", f"ketasim_generated_{self.key}_kernel")
        return self._kernel


_LOADED: dict[str, Generated] = {}


def source_key(layers: Sequence[ModuleType]) -> str | None:
    """Hash of everything the generated code depends on, without tracing: the layer sources, the
    definition and generator modules, and the sympy version. None if a layer has no source file."""
    stamps = []
    for mod in (*layers, _definition, sys.modules[__name__]):
        path = getattr(mod, "__file__", None)
        if not path or not Path(path).is_file():
            return None
        st = Path(path).stat()
        stamps.append((mod.__name__, path, st.st_mtime_ns, st.st_size))
    return _hash_sources(tuple(stamps))


@cache
def _hash_sources(stamps: tuple[tuple[str, str, int, int], ...]) -> str:
    """The key of :func:`source_key`, hashed from the file contents once per set of file stamps."""
    from importlib.metadata import version

    h = hashlib.sha256(f"{GENERATOR_VERSION}|{version('sympy')}|".encode())
    for name, path, _, _ in stamps:
        h.update(name.encode() + b"\0" + Path(path).read_bytes())
    return h.hexdigest()[:20]


def load(layers: Sequence[ModuleType], params: ParameterSet) -> Generated:
    """The generated code for ``layers`` (generated and written on first use; see the module doc)."""
    layers = tuple(layers)
    key = source_key(layers)
    if key is not None and key in _LOADED:
        return _LOADED[key]
    defn = None
    if key is None:  # layers without source files: key by the traced definition itself
        defn = trace(layers, params)
        key = defn.key
        if key in _LOADED:
            return _LOADED[key]
    directory = _writable(cache_root() / key)
    numpy_file = directory / "numpy_model.py"
    if not (numpy_file.is_file() and (directory / "kernel.py").is_file()):
        defn = defn or trace(layers, params)
        analysis = analyse(defn)
        # kernel first: numpy_model.py's presence marks a complete folder
        atomic_write_text(directory / "kernel.py", numba_source(analysis, key))
        atomic_write_text(numpy_file, numpy_source(analysis, key))
    gen = Generated(key, directory, _import(numpy_file, f"ketasim_generated_{key}_numpy"))
    _LOADED[key] = gen
    return gen


def _writable(directory: Path) -> Path:
    """``directory``, created; a per-user temporary folder if the cache cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-probe"
        probe.write_text("")
        probe.unlink()
        return directory
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"ketasim-cache-{os.getuid()}" / directory.name
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _import(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a file we just wrote
        raise ModelError(f"cannot import generated code {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
