"""The six systems of the paper's section 4.4 and the walk of one trajectory.

Six systems share the group's parameter models (one per effect) and differ only in how they pick
the next effect:

* **SerumRNN**: the selector on the sounds so far (each next to the target);
* **SerumRNN NI**: the same with every step fed the *input's* spectra (the applied
  effects' one-hots as usual), i.e. no intermediate renders seen;
* **SerumCNN**: the one-sigmoid-per-effect model on (current, target), most probable unused effect;
* **SerumCNN 1S**: SerumCNN once on (input, target): every effect with p > 0.5 (at least
  the most probable) in order of probability, all knobs predicted from (input, target),
  one render;
* **Oracle**: as the research code's ``OracleWrapper``: the target's effects in a random
  turn-on order (the order its chain was drawn in), then the remaining effects in a random
  order; its runs end by the same rule as the other systems;
* **Random**: a uniformly random unused effect.

An effect already applied is never chosen again (the next most probable unused one is),
so every system stops once every effect of the spec is on.

**Sharing work.** A sound is determined by the pair and the effects applied so far (the
models are deterministic), so sounds are cached per pair by that prefix: SerumRNN, NI,
SerumCNN and the Oracle mostly walk the same path and share its renders, features and
metrics. Pairs run in chunks; each step batches the model calls of every system.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from serumrnn.server.models import most_probable_unused, param_model_name
from serumrnn.server.models import pair_batch as models_pair_batch
from serumrnn.server.spec import MAX_STEPS

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.chain import FX, Chain
    from serumrnn.server.rack.render import Renderer

SYSTEMS: dict[str, str] = {
    "oracle": "Oracle",
    "serumrnn": "SerumRNN",
    "serumrnn_ni": "SerumRNN NI",
    "serumcnn": "SerumCNN",
    "random": "Random",
    "serumcnn_1s": "SerumCNN 1S",
}
ITERATIVE = ("serumrnn", "serumrnn_ni", "serumcnn", "oracle", "random")
ORACLE_STREAM = 500  # record_seed(TEST_STREAM, ORACLE_STREAM, pair): the Oracle's order after the truth
RANDOM_STREAM = 400  # record_seed(TEST_STREAM, RANDOM_STREAM, pair): the Random baseline's dice
FEATURE_BATCH = 32  # clips per feature/metric call (bounds the multi-scale STFT memory)


# -- sounds and test cases ------------------------------------------------------------


@dataclass
class TargetSound:
    """A target as the batched evaluation keeps it: audio, features and multi-scale spectra
    (``server.rack.profile.Target`` is something else: a plugin parameter a knob drives)."""

    audio: np.ndarray
    mel: np.ndarray
    mfcc: np.ndarray
    specs: tuple[np.ndarray, ...]  # multi-scale spectra, computed once per target


@dataclass
class Node:
    """A sound reached from a case's input by ``chain``; cached with its features."""

    chain: Chain
    audio: np.ndarray
    mel: np.ndarray
    mfcc: np.ndarray
    metrics: np.ndarray  # (6,) the six metrics in server.metrics.METRICS order, against the target


@dataclass
class Case:
    """One test pair: an input, a target and, when known, the chain that made it."""

    index: int
    name: str  # the preset, or the out-of-domain target
    truth: tuple[str, ...]  # effects that made the target, in order (() if unknown)
    target: TargetSound
    nodes: dict[tuple[str, ...], Node] = field(default_factory=dict)
    rng: np.random.Generator | None = None

    @property
    def input(self) -> Node:
        return self.nodes[()]


@dataclass
class Trajectory:
    """One system on one case: effects in the order applied, the distance after each."""

    effects: tuple[str, ...]
    metrics: np.ndarray  # (steps + 1, 6): the six metrics after each step, the input first
    renders: int  # renders the system needs (shared ones counted too)
    chain: list[dict[str, Any]]  # the whole trajectory's chain (JSON)

    @property
    def steps(self) -> int:
        return len(self.metrics) - 1


def metrics_module() -> ModuleType:
    from serumrnn.server import metrics as M

    return M


def _distances(
    mel: np.ndarray, mfcc: np.ndarray, audio: np.ndarray, targets: Sequence[TargetSound]
) -> np.ndarray:
    """(B, 6) distances of a batch of sounds to their own targets."""
    M = metrics_module()
    d = M.distances_from_features(
        mel, np.stack([t.mel for t in targets]), a_mfcc=mfcc, b_mfcc=np.stack([t.mfcc for t in targets])
    )
    specs = M.multiscale_spectra(audio)
    d["mssmae"] = np.array(
        [M.mssmae_from_spectra([s[r] for s in specs], t.specs) for r, t in enumerate(targets)]
    )
    return np.stack([np.atleast_1d(np.asarray(d[m], np.float64)) for m in M.METRICS], axis=1)


def make_nodes(
    audios: Sequence[np.ndarray], chains: Sequence[Chain], targets: Sequence[TargetSound]
) -> list[Node]:
    """Features and distances of many sounds, batched."""
    from serumrnn.server import features as F

    out: list[Node] = []
    for s in range(0, len(audios), FEATURE_BATCH):
        a = np.stack(audios[s : s + FEATURE_BATCH]).astype(np.float32)
        mel, mfcc = F.features(a)
        d = _distances(mel, mfcc, a, targets[s : s + FEATURE_BATCH])
        out += [Node(c, a[r], mel[r], mfcc[r], d[r]) for r, c in enumerate(chains[s : s + FEATURE_BATCH])]
    return out


def make_targets(audios: Sequence[np.ndarray]) -> list[TargetSound]:
    from serumrnn.server import features as F

    M = metrics_module()
    out: list[TargetSound] = []
    for s in range(0, len(audios), FEATURE_BATCH):
        a = np.stack(audios[s : s + FEATURE_BATCH]).astype(np.float32)
        mel, mfcc = F.features(a)
        specs = M.multiscale_spectra(a)
        out += [TargetSound(a[r], mel[r], mfcc[r], tuple(x[r] for x in specs)) for r in range(len(a))]
    return out


def make_cases(
    names: Sequence[str],
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    truths: Sequence[tuple[str, ...]],
    indices: Sequence[int],
) -> list[Case]:
    """Cases with their input node ready (targets and inputs featurized in batches)."""
    from serumrnn.server.rack.chain import Chain
    from serumrnn.server.sampling import record_seed
    from serumrnn.training.evaluate_models import TEST_STREAM

    tg = make_targets(targets)
    nodes = make_nodes(inputs, [Chain()] * len(inputs), tg)
    return [
        Case(i, n, tuple(t), g, {(): node}, np.random.default_rng(record_seed(TEST_STREAM, RANDOM_STREAM, i)))
        for i, n, t, g, node in zip(indices, names, truths, tg, nodes)
    ]


# -- choosing the next effect -------------------------------------------------------


def selector_batch(
    histories: Sequence[Sequence[Node]],
    targets: Sequence[TargetSound],
    paths: Sequence[tuple[str, ...]],
    ni: bool = False,
) -> dict[str, np.ndarray]:
    """Selector inputs for many cases (``serumrnn.server.models.selector_batch``).

    ``ni``: every step sees the first sound (the NI baseline); the one-hots of the applied
    effects are the same either way.
    """
    from serumrnn.server.models import selector_batch as batch

    hist = [[((h[0] if ni else n).mel, (h[0] if ni else n).mfcc) for n in h] for h in histories]
    return batch(hist, [(t.mel, t.mfcc) for t in targets], [("initial",) + tuple(p) for p in paths])


def pair_batch(nodes: Sequence[Node], targets: Sequence[TargetSound]) -> dict[str, np.ndarray]:
    """(sound, target) for many cases, through the one builder (``serumrnn.server.models.pair_batch``)."""
    return models_pair_batch(
        [n.mel for n in nodes], [n.mfcc for n in nodes], [t.mel for t in targets], [t.mfcc for t in targets]
    )


#: A policy: (cases, current path per case, rows to decide, models) -> effect or None (stop).
Policy = Callable[[Sequence[Case], Sequence[tuple[str, ...]], Sequence[int], "GroupModels"], list[str | None]]


def _selector_policy(model: str, ni: bool) -> Policy:
    def choose(
        cases: Sequence[Case], paths: Sequence[tuple[str, ...]], rows: Sequence[int], models: GroupModels
    ) -> list[str | None]:
        hist = [[cases[i].nodes[paths[i][:j]] for j in range(len(paths[i]) + 1)] for i in rows]
        x = selector_batch(hist, [cases[i].target for i in rows], [paths[i] for i in rows], ni)
        probs = np.asarray(models.predict(model, x))
        return [most_probable_unused(p, paths[i]) for p, i in zip(probs, rows)]

    return choose


def _cnn_policy(
    cases: Sequence[Case], paths: Sequence[tuple[str, ...]], rows: Sequence[int], models: GroupModels
) -> list[str | None]:
    x = pair_batch([cases[i].nodes[paths[i]] for i in rows], [cases[i].target for i in rows])
    probs = np.asarray(models.predict("serum_cnn", x))
    return [most_probable_unused(p, paths[i]) for p, i in zip(probs, rows)]


def oracle_order(case: Case) -> tuple[str, ...]:
    """The research code's random Oracle: the target's effects in their (random) turn-on
    order, then every other effect in an order drawn from the pair's own seed."""
    from serumrnn.server import spec
    from serumrnn.server.sampling import record_seed
    from serumrnn.training.evaluate_models import TEST_STREAM

    rest = [e for e in spec.EFFECT_NAMES if e not in case.truth]
    rng = np.random.default_rng(record_seed(TEST_STREAM, ORACLE_STREAM, case.index))
    return tuple(case.truth) + tuple(rest[i] for i in rng.permutation(len(rest)))


def _oracle_policy(
    cases: Sequence[Case], paths: Sequence[tuple[str, ...]], rows: Sequence[int], models: GroupModels
) -> list[str | None]:
    return [oracle_order(cases[i])[len(paths[i])] for i in rows]


def _random_policy(
    cases: Sequence[Case], paths: Sequence[tuple[str, ...]], rows: Sequence[int], models: GroupModels
) -> list[str | None]:
    from serumrnn.server import spec

    out: list[str | None] = []
    for i in rows:
        unused = [e for e in spec.EFFECT_NAMES if e not in paths[i]]
        rng = cases[i].rng
        if rng is None:
            raise ValueError(f"case {cases[i].index} has no random stream (make_cases gives one)")
        out.append(unused[int(rng.integers(len(unused)))])
    return out


POLICIES: dict[str, Policy] = {
    "serumrnn": _selector_policy("selector", False),
    "serumrnn_ni": _selector_policy("selector_ni", True),
    "serumcnn": _cnn_policy,
    "oracle": _oracle_policy,
    "random": _random_policy,
}


# -- trajectories --------------------------------------------------------------------


def expand(
    cases: Sequence[Case], requests: set[tuple[int, tuple[str, ...]]], models: GroupModels, renderer: Renderer
) -> int:
    """Make every requested sound (a cached sound plus one effect) not made yet.

    Knobs come from the effect's parameter model on (parent, target), batched per effect;
    the new sound is the input run through the parent's chain plus that effect, in rack
    order (so the new effect may process before earlier ones). Returns the renders done.
    """
    from serumrnn.server.models import knobs_from_outputs

    by_effect: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    for i, path in sorted(requests):
        if path not in cases[i].nodes:
            by_effect.setdefault(path[-1], []).append((i, path))
    made: list[tuple[int, tuple[str, ...], Chain, np.ndarray]] = []
    for effect, items in by_effect.items():
        parents = [cases[i].nodes[p[:-1]] for i, p in items]
        y = models.predict(param_model_name(effect), pair_batch(parents, [cases[i].target for i, _ in items]))
        for r, ((i, path), parent) in enumerate(zip(items, parents)):
            fx = knobs_from_outputs(effect, y, r)
            chain = parent.chain.then(fx)  # processed from the input in rack order, like Serum
            made.append((i, path, chain, renderer.process(cases[i].input.audio, chain)))
    nodes = make_nodes([m[3] for m in made], [m[2] for m in made], [cases[m[0]].target for m in made])
    for (i, path, _, _), node in zip(made, nodes):
        cases[i].nodes[path] = node
    return len(made)


def trajectory(case: Case, path: tuple[str, ...]) -> Trajectory:
    nodes = [case.nodes[path[:j]] for j in range(len(path) + 1)]
    return Trajectory(path, np.stack([n.metrics for n in nodes]), len(path), nodes[-1].chain.to_json())


def run_iterative(
    cases: Sequence[Case], systems: Sequence[str], models: GroupModels, renderer: Renderer
) -> tuple[dict[str, list[Trajectory]], int]:
    """Every system's whole trajectory (no early stop) on every case, step by step.

    Returns the trajectories and the number of renders actually done (shared ones once).
    """
    paths: dict[str, list[tuple[str, ...]]] = {s: [()] * len(cases) for s in systems}
    live = {s: list(range(len(cases))) for s in systems}
    renders = 0
    for _ in range(MAX_STEPS):
        picks: dict[str, list[tuple[int, str]]] = {}
        for s in systems:
            if live[s]:
                chosen = POLICIES[s](cases, paths[s], live[s], models)
                picks[s] = [(i, e) for i, e in zip(live[s], chosen) if e is not None]
        renders += expand(
            cases, {(i, paths[s][i] + (e,)) for s, pe in picks.items() for i, e in pe}, models, renderer
        )
        for s, pe in picks.items():
            for i, e in pe:
                paths[s][i] = paths[s][i] + (e,)
            live[s] = [i for i, _ in pe]
    return {s: [trajectory(c, p) for c, p in zip(cases, paths[s])] for s in systems}, renders


def one_shot_effects(probs: np.ndarray) -> tuple[str, ...]:
    """SerumCNN 1S's chain: effects with p > 0.5 (at least the top one), most probable first."""
    from serumrnn.server import spec

    order = np.argsort(-np.asarray(probs), kind="stable")
    chosen = [int(k) for k in order if probs[k] > 0.5] or [int(order[0])]
    return tuple(spec.EFFECT_NAMES[k] for k in chosen)


def run_one_shot(cases: Sequence[Case], models: GroupModels, renderer: Renderer) -> list[Trajectory]:
    """SerumCNN 1S: one effect prediction, all knobs from (input, target), one render."""
    from serumrnn.server.models import knobs_from_outputs
    from serumrnn.server.rack.chain import Chain

    inputs, targets = [c.input for c in cases], [c.target for c in cases]
    sets = [one_shot_effects(p) for p in np.asarray(models.predict("serum_cnn", pair_batch(inputs, targets)))]
    knobs: dict[tuple[int, str], FX] = {}
    for effect in {e for s in sets for e in s}:
        rows = [i for i, s in enumerate(sets) if effect in s]
        y = models.predict(
            param_model_name(effect), pair_batch([inputs[i] for i in rows], [targets[i] for i in rows])
        )
        knobs.update({(i, effect): knobs_from_outputs(effect, y, r) for r, i in enumerate(rows)})
    chains = [Chain(knobs[(i, e)] for e in s) for i, s in enumerate(sets)]
    outs = make_nodes([renderer.process(n.audio, ch) for n, ch in zip(inputs, chains)], chains, targets)
    return [
        Trajectory(s, np.stack([n.metrics, o.metrics]), 1, ch.to_json())
        for s, n, o, ch in zip(sets, inputs, outs, chains)
    ]


# -- the stopping rule ---------------------------------------------------------------

# The paper's stopping rule and the research code's scoring rule live with the judge
# (server/judge.py), the one home of every stopping and judging rule.


@dataclass
class Evaluation:
    """Everything one run produced, for the report and the tests."""

    result: dict[str, Any]
    trajectories: dict[str, list[Trajectory]]
    truths: list[tuple[str, ...]]
    example: dict[str, Any] | None
    verified: dict[str, list[Trajectory]] = field(default_factory=dict)  # our loops' rows
