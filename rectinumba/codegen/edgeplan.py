"""The plan of a template edge: per-connection statements of its output and of its update.

A template edge (:mod:`rectinumba.edge_model`) runs one instance of its model per connection
``jj`` (target neuron ``i``, source neuron ``j``). A step prints two loops of it:

1. **output** (when the target's summed input is formed, before the target node's loops):
   the algebraic values its output needs, then ``acc += W[jj] * out`` for row ``i``;
2. **update** (right after the target node's loops): the algebraic values again, the
   derivatives, the explicit Euler step of every state, the non-finite check and recordings.

Both loops read the same values: edge states before the step, the source's values of this step
(kept by the source node, or its feedback probe), and the target's values before its update
(its state arrays in loop 1, the copies its stage 0 keeps in loop 2). So loop 2 recomputes what
loop 1 computed, exactly.

Value keys: ``("state", name, 0)`` (per connection, ``[b, jj]``), ``("const", name)`` (per
edge and trial, ``[b, 0]``), ``("src",)`` (the source variable of neuron j), ``("bind", name)``
(a bound input: a source value ``[b, j]`` or a target value ``[b, i]``), ``("alg", name)``,
``("t", 0)``, ``("dt",)``, ``("k", 0, state)`` and ``("new", state)``. Renderers print the
statements with :class:`~rectinumba.codegen.emit.StatementWriter` like a node's (complex
values too: :meth:`EdgePlan.is_complex`); the roles
``"esyn"``, ``"econst"`` and ``"epre"`` index per connection, per edge and per source neuron.
"""

from __future__ import annotations

from ..errors import NetworkError
from .plan import Assign, Check, ComplexValues, Loop, Record, Ref, Write, mangle
from .source import free_names
from .spec import ArgSpec, DiffEqSpec, EdgeSpec
from .update import dt_symbol, get_rule, parse_stage_symbol

__all__ = ["EdgePlan"]


class EdgePlan(ComplexValues):
    """The two per-connection loops of template edge ``e`` and where its values live.

    Parameters
    ----------
    plan : NetworkPlan
        The network's plan (argument table).
    e : int
        Edge index.
    spec : EdgeSpec
        The edge (``spec.model`` is its :class:`~rectinumba.codegen.spec.EdgeModelSpec`).
    edge_in : EdgeIn
        The edge as its target reads it (weights, format, source array).

    Attributes
    ----------
    out_loop, update_loop : Loop
        The statements of loop 1 and loop 2.
    out_key : tuple
        Key of the output value at the end of ``out_loop``.
    states : list of str
        The model's states, in order (failure records index them).
    """

    #: node-like attribute the statement writer asks for (edge templates have no reductions)
    alg_index: dict = {}

    def value_name(self, key: tuple) -> str | None:
        """The model variable that value ``key`` holds (None for t and dt).

        Parameters
        ----------
        key : tuple
            A value key.

        Returns
        -------
        str or None
            The qualified name.
        """
        kind = key[0]
        if kind in ("state", "const", "bind", "alg", "new"):
            return key[1]
        if kind == "k":
            return key[2]
        if kind == "src":
            return self.spec.model.source_input
        return None

    def __init__(self, plan, e: int, spec: EdgeSpec, edge_in) -> None:
        self.plan, self.e, self.spec, self.edge_in = plan, e, spec, edge_in
        self.k = spec.target  # the node whose input this edge forms
        mspec = spec.model
        model = self.model = mspec.model
        self.label = (
            f"edge {plan.spec.nodes[spec.source].label!r} -> {plan.spec.nodes[spec.target].label!r}"
        )
        if plan.spec.method != "euler":
            raise NetworkError(
                f"{self.label} is a template edge; template edges take explicit Euler steps, "
                f"but the network integrates with method={plan.spec.method!r}",
                hint="use Network(dt, method='euler') for networks with template edges",
            )
        self.states = list(model.states)
        #: names of the model's complex-valued variables (their arrays and locals are complex)
        self.complex = frozenset(model.complex_vars)
        self.alg = {d.name: d for d in model.algebraic}
        for d in model.algebraic:
            if d.reduce is not None:
                raise NetworkError(
                    f"{self.label}: the edge template uses {d.reduce}(...) (a population "
                    "reduction); edge equations are per connection",
                    template=model.name,
                )
        self.derivs = dict(model.derivatives)
        bound = {mspec.source_input, *(b[0] for b in mspec.bind)}
        self.consts = [n for n, _ in model.params] + [
            n for n, _ in model.inputs if n not in bound
        ]
        self.binds = {name: (side, var) for name, side, var in mspec.bind}
        self._declare()
        self.out_key = self._key(mspec.output)
        self.out_loop = Loop(0, 0, index=0)
        self.update_loop = Loop(0, 1, index=1)
        self._build_output()
        self._build_update()

    # ---- arguments ---------------------------------------------------------------------------
    def _declare(self) -> None:
        e, plan = self.e, self.plan
        for j, s in enumerate(self.states):
            plan.declare(ArgSpec(f"e{e}_s{j}_{mangle(s)}", "estate", e, s))
        for j, c in enumerate(self.consts):
            plan.declare(ArgSpec(f"e{e}_p{j}_{mangle(c)}", "econst", e, c))
        for q, (var, mean) in enumerate(self.spec.model.record):
            plan.declare(ArgSpec(f"e{e}_r{q}_{mangle(var)}", "erec", e, (var, mean)))

    def arg(self, role: str, detail) -> str:
        """Name of this edge's argument (role, detail).

        Parameters
        ----------
        role : str
            ``"estate"``, ``"econst"`` or ``"erec"``.
        detail : object
            Its detail.

        Returns
        -------
        str
            The name.
        """
        return self.plan.arg(role, self.e, detail)

    # ---- building ----------------------------------------------------------------------------
    def _key(self, name: str) -> tuple:
        mspec = self.spec.model
        if name == "t":
            return ("t", 0)
        if name in self.states:
            return ("state", name, 0)
        if name in self.consts:
            return ("const", name)
        if name == mspec.source_input:
            return ("src",)
        if name in self.binds:
            return ("bind", name)
        if name in self.alg:
            return ("alg", name)
        raise NetworkError(f"codegen: no value for {name!r}", template=self.model.name)

    def _keys(self, expr) -> tuple:
        return tuple((n, self._key(n)) for n in sorted(free_names(expr)))

    def _needed(self, roots) -> list[str]:
        """Algebraic names that ``roots`` depend on, in evaluation order."""
        out: set[str] = set()
        todo = [n for n in roots if n in self.alg]
        while todo:
            name = todo.pop()
            if name in out:
                continue
            out.add(name)
            todo.extend(n for n in free_names(self.alg[name].expr) if n in self.alg)
        return [d.name for d in self.model.algebraic if d.name in out]

    def _assign_alg(self, loop: Loop, names) -> None:
        for name in names:
            expr = self.alg[name].expr
            loop.body.append(Assign(("alg", name), expr, self._keys(expr)))

    def _build_output(self) -> None:
        out = self.spec.model.output
        needed = self._needed({out})
        read = {out}.union(*[free_names(self.alg[name].expr) for name in needed])
        for name in sorted(read):
            self._check_output_read(name)
        self._assign_alg(self.out_loop, needed)

    def _check_output_read(self, name: str) -> None:
        """The output is formed before the target updates: it may read the target's states
        (not yet updated), never a target value its stage 0 computes."""
        if name not in self.binds:
            return
        side, var = self.binds[name]
        target = self.plan.spec.nodes[self.spec.target]
        if side == "target" and not (isinstance(target, DiffEqSpec) and var in target.model.states):
            raise NetworkError(
                f"{self.label}: the edge output reads the target's {var!r} (through input "
                f"{name!r}), which the target computes after its input is formed",
                template=self.model.name,
                hint="the output may read the target's state variables; other target values "
                "may enter the edge's derivatives only",
            )

    def _build_update(self) -> None:
        loop, spec = self.update_loop, self.spec.model
        roots = set().union(*[free_names(d) for d in self.derivs.values()], set())
        roots |= {v for v, _ in spec.record}
        self._assign_alg(loop, self._needed(roots))
        for state in self.states:
            expr = self.derivs[state]
            loop.body.append(Assign(("k", 0, state), expr, self._keys(expr)))
        rule = get_rule("euler")
        for j, state in enumerate(self.states):
            expr = rule.new_value(state, lambda st=state: self.derivs[st])
            loop.body.append(Assign(("new", state), expr, self._rule_keys(expr)))
            loop.body.append(Check(("new", state), j))
            loop.body.append(Write(self.arg("estate", state), "esyn", ("new", state)))
        for var, mean in spec.record:
            dest = self.arg("erec", (var, mean))
            key = ("new", var) if var in self.states else self._key(var)
            loop.body.append(Record(dest, key, mean))
            if mean:
                loop.rec_means.append(dest)

    def _rule_keys(self, expr) -> tuple:
        keys = []
        for name in sorted(free_names(expr)):
            stage = parse_stage_symbol(name)
            if stage is not None:
                keys.append((name, ("k", stage[0], stage[1])))
            elif name == dt_symbol().name:
                keys.append((name, ("dt",)))
            else:
                keys.append((name, self._key(name)))
        return tuple(keys)

    # ---- where values live ---------------------------------------------------------------------
    def ref(self, key: tuple, loop: Loop) -> Ref:
        """Where value ``key`` lives when read in ``loop``.

        Parameters
        ----------
        key : tuple
            A value key (see the module docstring).
        loop : Loop
            ``out_loop`` or ``update_loop``.

        Returns
        -------
        Ref
            A local or an array element.
        """
        kind = key[0]
        if kind == "t":
            return Ref(key, "t")
        if kind == "dt":
            return Ref(key, "local", "dt")
        if kind == "state":
            return Ref(key, "arr", self.arg("estate", key[1]), "esyn")
        if kind == "const":
            return Ref(key, "arr", self.arg("econst", key[1]), "econst")
        if kind == "src":
            return Ref(key, "arr", self.edge_in.src, "epre")
        if kind == "bind":
            return self._bound(key, loop)
        return Ref(key, "local", self.local_name(key))

    def _bound(self, key: tuple, loop: Loop) -> Ref:
        side, var = self.binds[key[1]]
        plan, spec = self.plan, self.spec
        if side == "source":
            return Ref(key, "arr", plan.source_array(spec.source, var, spec.feedback), "epre")
        t = spec.target
        if loop is self.out_loop:  # before the target's update: its state arrays
            return Ref(key, "arr", plan.arg("state", t, var), "state")
        return Ref(key, "arr", plan.source_array(t, var, False), "scratch")

    def local_name(self, key: tuple) -> str:
        """Name of the local holding value ``key``.

        Parameters
        ----------
        key : tuple
            An algebraic, derivative or new-value key.

        Returns
        -------
        str
            The local's name.
        """
        e, kind = self.e, key[0]
        if kind == "alg":
            return f"ea{e}_{[d.name for d in self.model.algebraic].index(key[1])}"
        if kind == "k":
            return f"ed{e}_{self.states.index(key[2])}"
        if kind == "new":
            return f"ey{e}_{self.states.index(key[1])}"
        raise NetworkError(f"codegen: no local for {key!r}")

    def names(self, keys, loop: Loop) -> dict[str, Ref]:
        """Where the free symbols of a statement live.

        Parameters
        ----------
        keys : tuple
            ``(symbol name, value key)`` pairs.
        loop : Loop
            The loop reading them.

        Returns
        -------
        dict
            Symbol name -> Ref.
        """
        return {name: self.ref(key, loop) for name, key in keys}

    def stores(self, key: tuple) -> None:
        """Template edges keep no value between loops (loop 2 recomputes).

        Parameters
        ----------
        key : tuple
            A value key.

        Returns
        -------
        None
            Always.
        """
        return None
