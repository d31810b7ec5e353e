"""The interactive explorer: ipywidgets sliders and pickers that re-run a short simulation and redraw the charts.

    >>> from resilsim.widgets import explore
    >>> explore("scenarios/metastable-retry-storm.yaml")     # in a notebook cell

The strategy picker offers the scenario's strategies, every library preset
(``library: grpc``, with its own guards) and a custom strategy: exponential
backoff from the sliders plus the guards picked (a retry budget, a circuit
breaker with its failure rate and open time, adaptive throttling with its K).
Moving a control re-runs a *preview* (the scenario cut to ``preview``
seconds, so dragging stays responsive; sliders update on release); the Run
button runs the full duration. Charts are rendered off-screen (matplotlib
``Figure``, no pyplot) into ``Image`` widgets, and the summary into an
``HTML`` widget, so the whole panel works headless: tests set ``.value`` on
the controls and read :attr:`Explorer.result`, :attr:`Explorer.table` and
:attr:`Explorer.images`.
"""
from __future__ import annotations

import copy
import io

from .scenario import Scenario, given_fields, load_scenario

CHARTS = ("success_over_time", "load_over_time", "outcomes_by_strategy", "latency_bands")
JITTERS = ("none", "full", "equal", "decorrelated")
CUSTOM = "custom (sliders)"
NONE = "(none)"
KEEP = "(as in scenario)"
LIBRARY = "library: "  # picker entries "library: grpc" run the library preset (resilsim.policies.library)
#: The custom strategy's retry budget picker: label → ``guards:`` entries (docs/strategies.md, Guards).
BUDGETS = {"none": {},
           "token bucket (gRPC: 10 tokens, 0.1)": {"token_bucket": {"max_tokens": 10, "token_ratio": 0.1}},
           "ratio 10% (SRE book, no floor)": {"ratio": {"percent": 0.1, "min_per_s": 0.0}}}
#: The custom strategy's breaker, besides the two sliders: a count window short enough to act in a preview.
BREAKER = {"window": 20, "minimum_calls": 20, "half_open_calls": 5}


def _num(x, default):
    return default if x is None else x


class Explorer:
    """The state behind :func:`explore`: the controls, the last :class:`~resilsim.Result` and the widgets showing it.

    ``controls`` maps a knob name to its widget; :meth:`run` simulates with
    the current values (``full=False``: the preview length) and redraws.
    """

    def __init__(self, scenario, *, seed: int = 0, preview: float = 60.0, charts=CHARTS):
        import ipywidgets as w

        self.base: Scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.data = given_fields(self.base)
        self.seed = seed
        self.charts = tuple(charts)
        self.result = None
        self.runs = 0
        self.offset = 0.0  # seconds of the full run before the preview window
        s = self.base
        rate = s.clients.arrival.poisson.rate
        workers = s.service.workers
        slider = dict(continuous_update=False, style={"description_width": "9em"},
                      layout=w.Layout(width="26em"))
        c = {}
        c["load"] = w.FloatSlider(value=rate, min=0.1, max=max(4 * rate, 1.0), step=max(rate / 50, 0.1),
                                  description="load (req/s)", **slider)
        c["workers"] = w.IntSlider(value=workers, min=1, max=max(4 * workers, 4), description="workers", **slider)
        self._rl0 = self._simple_rate_limit()
        c["rate_limit"] = w.FloatSlider(value=_num(self._rl0, 0.0), min=0.0, max=max(4 * rate, 1.0),
                                        step=max(rate / 50, 0.1), description="rate limit (/s, 0=off)", **slider)
        inc = self._incident()
        dur = float(s.duration)
        c["incident_start"] = w.FloatSlider(value=inc.get("start", dur / 4), min=0.0, max=dur, step=1.0,
                                            description="incident start (s)", **slider)
        c["incident_duration"] = w.FloatSlider(value=inc.get("duration", dur / 10), min=1.0, max=dur, step=1.0,
                                               description="incident length (s)", **slider)
        c["incident_rate"] = w.FloatSlider(value=inc.get("rate", 0.0 if not inc else 1.0), min=0.0, max=1.0,
                                           step=0.05, description="incident error rate", **slider)
        codes = self._codes()
        keep = [KEEP] if inc else []
        code0 = inc.get("code") if inc.get("code") in codes and not inc.get("rates") else (KEEP if inc else NONE)
        c["incident_code"] = w.Dropdown(options=[NONE, *keep, *codes], value=code0,
                                        description="incident code", style=slider["style"])
        names = list(s.strategies)
        libs = [LIBRARY + n for n in _library_names() if LIBRARY + n not in names]
        c["strategies"] = w.SelectMultiple(options=[*names, CUSTOM, *libs], value=tuple(names),
                                           description="strategies", rows=min(8, len(names) + 1 + len(libs)),
                                           style=slider["style"])
        c["attempts"] = w.IntSlider(value=4, min=1, max=10, description="custom: attempts", **slider)
        c["base"] = w.FloatSlider(value=0.1, min=0.01, max=5.0, step=0.01, description="custom: backoff base (s)",
                                  **slider)
        c["cap"] = w.FloatSlider(value=5.0, min=0.1, max=60.0, step=0.1, description="custom: backoff cap (s)",
                                 **slider)
        c["jitter"] = w.Dropdown(options=JITTERS, value="full", description="custom: jitter", style=slider["style"])
        c["budget"] = w.Dropdown(options=list(BUDGETS), value="none", description="custom: retry budget",
                                 style=slider["style"])
        c["breaker"] = w.Checkbox(value=False, description="custom: circuit breaker", style=slider["style"])
        c["breaker_rate"] = w.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05,
                                          description="breaker: failure rate", **slider)
        c["breaker_open"] = w.FloatSlider(value=10.0, min=1.0, max=120.0, step=1.0,
                                          description="breaker: open (s)", **slider)
        c["throttle_k"] = w.FloatSlider(value=0.0, min=0.0, max=4.0, step=0.1,
                                        description="custom: throttle K (0=off)", **slider)
        c["preview"] = w.FloatSlider(value=min(preview, dur), min=min(10.0, dur), max=dur, step=5.0,
                                     description="preview length (s)", **slider)
        self.controls = c
        self.button = w.Button(description="Run full duration", button_style="primary", icon="play")
        self.status = w.HTML()
        self.table = w.HTML()
        self.images = [w.Image(format="png", layout=w.Layout(max_width="100%")) for _ in self.charts]
        self.output = w.Output()  # errors from a run (bad combination of values) show here
        for widget in c.values():
            widget.observe(self._on_change, names="value")
        self.button.on_click(self._on_run)
        left = w.VBox([w.HTML("<b>load &amp; capacity</b>"), c["load"], c["workers"], c["rate_limit"],
                       w.HTML("<b>incident</b>"), c["incident_code"], c["incident_start"], c["incident_duration"],
                       c["incident_rate"]])
        right = w.VBox([w.HTML("<b>strategies</b>"), c["strategies"], c["attempts"], c["base"], c["cap"],
                        c["jitter"], c["budget"], c["breaker"], c["breaker_rate"], c["breaker_open"],
                        c["throttle_k"], w.HTML("<b>run</b>"), c["preview"], self.button, self.status])
        self.panel = w.VBox([w.HBox([left, right]), self.output, self.table, w.VBox(self.images)])
        self.panel.explorer = self

    # ------------------------------------------------------------ scenario from the controls

    def _simple_rate_limit(self):
        rl = self.base.service.rate_limit
        if rl is not None and not isinstance(rl, list) and rl.token_bucket and rl.per == "global":
            return rl.token_bucket.rate
        return None

    def _incident(self) -> dict:
        inc = (self.data.get("faults") or {}).get("incidents") or []
        return dict(inc[0]) if inc else {}

    def _codes(self) -> list[str]:
        from .catalog import load_catalog

        try:
            return [x.code for x in load_catalog(self.base.api).codes]
        except Exception:  # a custom catalog path that moved: no code picker, the rest still works
            return []

    def scenario(self, full: bool = False) -> Scenario:
        """The scenario the controls describe; ``full=False`` cuts it to the preview length (seconds)."""
        c = self.controls
        d = copy.deepcopy(self.data)
        d["clients"]["arrival"]["poisson"]["rate"] = float(c["load"].value)
        d["service"]["workers"] = int(c["workers"].value)
        rl = float(c["rate_limit"].value)
        if rl != _num(self._rl0, 0.0):
            if rl > 0:
                d["service"]["rate_limit"] = {"token_bucket": {"rate": rl, "burst": max(1.0, rl)}}
            else:
                d["service"].pop("rate_limit", None)
        code = c["incident_code"].value
        faults = d.setdefault("faults", {})
        incs = list(faults.get("incidents") or [])
        if code == KEEP and incs:
            # The scenario's first incident with its own codes; only its timing follows the sliders.
            incs[0] = {**incs[0], "start": float(c["incident_start"].value),
                       "duration": float(c["incident_duration"].value)}
        elif code != NONE and c["incident_rate"].value > 0:
            first = dict(incs[0]) if incs else {"name": "explorer"}
            first.update(start=float(c["incident_start"].value), duration=float(c["incident_duration"].value),
                         code=code, rate=float(c["incident_rate"].value))
            first.pop("rates", None)
            first.pop("use", None)
            incs[:1] = [first]
        elif incs:
            incs = incs[1:]
        faults["incidents"] = incs
        self.offset = 0.0
        if not full and c["preview"].value < self.base.duration:
            self._preview_window(d, float(c["preview"].value))
        picked = c["strategies"].value
        names = [n for n in picked if n != CUSTOM and not n.startswith(LIBRARY)]
        if CUSTOM in picked:
            d["strategies"][CUSTOM] = self._custom()
            names.append(CUSTOM)
        for n in picked:
            if n.startswith(LIBRARY):
                d["strategies"][n] = {"retry": n[len(LIBRARY):]}  # its own guards and timeouts come with it
                names.append(n)
        self._names = names
        return load_scenario(d)

    def _custom(self) -> dict:
        """The custom strategy's YAML: exponential backoff from the sliders, and the guards picked."""
        c = self.controls
        spec = {"retry": {
            "wait": {"exponential": {"base": float(c["base"].value), "cap": float(c["cap"].value)}},
            "jitter": c["jitter"].value, "stop": {"attempts": int(c["attempts"].value)}}}
        guards = dict(BUDGETS[c["budget"].value])
        if c["breaker"].value:
            guards["breaker"] = {**BREAKER, "failure_rate": float(c["breaker_rate"].value),
                                 "open_s": float(c["breaker_open"].value)}
        if c["throttle_k"].value > 0:
            guards["throttle"] = {"k": float(c["throttle_k"].value)}
        if guards:
            spec["guards"] = guards
        return spec

    def _preview_window(self, d: dict, length: float) -> None:
        """Cut ``d`` to a ``length``-second window of the run that shows the first incident (or load change).

        The window starts a quarter of its length before that event; incidents
        and load changes are shifted by the window's start (:attr:`offset`,
        seconds) and clipped to it, so the preview's times run from 0.
        """
        full = load_scenario(d)  # the validated timing (library incidents carry their own durations)
        incs, changes = full.faults.incidents, full.clients.arrival.poisson.changes
        first = min([i.start for i in incs[:1]] or [c.start for c in changes] or [0.0])
        t0 = min(max(0.0, first - length / 4), max(0.0, full.duration - length))
        self.offset = t0

        def clip(entry: dict, start: float, duration: float):
            a, b = max(start - t0, 0.0), min(start + duration - t0, length)
            return {**entry, "start": a, "duration": b - a} if b > a and a < length else None

        d["faults"]["incidents"] = [e for e in (clip(dict(raw), i.start, i.duration) for raw, i in
                                                zip(d["faults"].get("incidents") or [], incs)) if e]
        poisson = d["clients"]["arrival"]["poisson"]
        if poisson.get("changes"):
            poisson["changes"] = [e for e in (clip(dict(raw), c.start, c.duration) for raw, c in
                                              zip(poisson["changes"], changes)) if e]
        d["duration"] = length
        d["warmup"] = min(float(self.base.warmup), length / 4)

    # ------------------------------------------------------------ running and drawing

    def run(self, full: bool = False):
        """Simulate with the current control values (preview length unless ``full``) and redraw; return the Result."""
        from . import simulate

        self.output.clear_output()
        try:
            sc = self.scenario(full=full)
            if not self._names:
                self.status.value = "<i>pick at least one strategy</i>"
                return None
            self.status.value = "<i>running…</i>"
            self.result = simulate(sc, seed=self.seed, strategies=self._names)
        except Exception as e:  # a value combination the schema refuses: say why, keep the last charts
            self.status.value = f"<span style='color:#a00'>{type(e).__name__}: {e}</span>"
            with self.output:
                print(f"{type(e).__name__}: {e}")
            return None
        self.runs += 1
        where = f" (the run's {self.offset:g}–{self.offset + sc.duration:g} s, shown from 0)" if self.offset else ""
        self.status.value = (f"{'full run' if full else 'preview'}: {sc.duration:g} s simulated{where}, "
                             f"seed {self.seed}")
        self.table.value = self.result.summary().to_html(float_format=lambda v: f"{v:.3g}") + self._guards_html()
        self._draw()
        return self.result

    def _guards_html(self) -> str:
        """A table of each guarded strategy's guards, their parameters and what they did ("" when none has guards)."""
        import pandas as pd

        r = self.result
        rows = {}
        for name, params in r.strategies.items():
            kinds = params.get("guards") if isinstance(params, dict) else None
            if not kinds:
                continue
            prefixes = tuple(k + "_" for k in kinds.split("+"))
            shown = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items() if k.startswith(prefixes)]
            rows[name] = {"guards": kinds, "parameters": ", ".join(shown)}
        if not rows:
            return ""
        stats = r.guard_stats()[["shed_first", "shed_retry", "held", "held_deadline"]]
        table = pd.DataFrame.from_dict(rows, orient="index").join(stats)
        table.index.name = "strategy"
        return table.to_html()

    def _draw(self):
        from matplotlib.figure import Figure

        from . import plots

        for img, name in zip(self.images, self.charts):
            fig = Figure(figsize=(8, 3.4), layout="constrained", dpi=90)
            getattr(plots, name)(self.result, ax=fig.add_subplot())
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            img.value = buf.getvalue()

    def _on_change(self, change):
        self.run(full=False)

    def _on_run(self, _button):
        self.run(full=True)


def _library_names() -> list[str]:
    """The library presets' names (``resilsim.policies.library.LIBRARY``)."""
    from .scenario import library_presets

    return list(library_presets())


def build_explorer(scenario, *, seed: int = 0, preview: float = 60.0, charts=CHARTS, run: bool = True) -> Explorer:
    """Build the :class:`Explorer` for ``scenario`` (a Scenario, path or dict) and, with ``run``, its first preview."""
    ex = Explorer(scenario, seed=seed, preview=preview, charts=charts)
    if run:
        ex.run(full=False)
    return ex


def explore(scenario, *, seed: int = 0, preview: float = 60.0, charts=CHARTS):
    """An ipywidgets panel (VBox) to explore ``scenario``: load, workers, rate limit, incident, strategies.

    Moving a control re-runs a ``preview``-second simulation; the button runs
    the full duration. The panel's ``.explorer`` attribute is the
    :class:`Explorer` behind it.
    """
    return build_explorer(scenario, seed=seed, preview=preview, charts=charts).panel
