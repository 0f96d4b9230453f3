"""Full factorial designs: two-level 2^k (with blocking and centre points) and general
multi-level ones (e.g. 3^5 = 243 runs).

Two-level designs share one builder, :func:`two_level`, with the fractions: a full 2^k
is the fraction with no generators. Runs are in Yates standard order (the first factor
alternates fastest). Blocking confounds chosen interactions with blocks: with block
words ``b_1..b_q`` (``q = log2(blocks)``) the block of a run is
``1 + sum_j [prod_{i in b_j} x_i = +1] 2^(j-1)`` (Montgomery's convention: with ``ABC``
confounded, block 1 holds ``(1), ab, ac, bc``). By default the block words are chosen so
that the effects they confound (with all their aliases) are of the highest order possible.
"""

import itertools
import math

import numpy as np

from .._params import Integral, Interval, check_option, check_params
from ..errors import FabParameterError
from . import _words as W
from ._layout import RULES, assemble, coded_levels, expand, parse_factors

#: Rules for the blocking arguments of the two-level builders.
BLOCK_RULES = {
    "blocks": [Interval(Integral, 1, None, closed="left"), list, tuple],
    "block_generators": [None, list, tuple],
}


def full_factorial(factors, levels=2, replicates=1, center_points=0, blocks=1,
                   block_generators=None, seed=None):
    """Full factorial design.

    Parameters
    ----------
    factors : list of str or dict
        Names (coded levels only), or ``name -> (low, high)`` for two natural levels,
        ``name -> [l1, l2, l3, ...]`` for several levels, or ``name -> n_levels``.
    levels : int
        Number of levels for factors given by name only (2 gives a 2^k design).
    replicates, center_points, blocks, block_generators, seed
        As in :func:`fabnb.doe.fractional_factorial`. ``blocks`` and
        ``center_points`` apply to two-level designs; ``center_points`` is per block.

    >>> d = full_factorial(["A", "B", "C"], seed=1)
    >>> len(d), d.attrs["doe"]["kind"]
    (8, 'full_factorial')
    >>> len(full_factorial(["A", "B", "C", "D", "E"], levels=3))
    243
    """
    rules = {**RULES, **BLOCK_RULES, "levels": [Interval(Integral, 2, None, closed="left")]}
    check_params("full_factorial", rules,
                 {"factors": factors, "levels": levels, "replicates": replicates,
                  "center_points": center_points, "blocks": blocks,
                  "block_generators": block_generators, "seed": seed})
    parsed = parse_factors(factors, levels)
    n_blocks = check_blocks("full_factorial", blocks)[0]
    if all(f.n_levels == 2 for f in parsed):
        return two_level(parsed, [], replicates, center_points, blocks, block_generators,
                         seed, kind="full_factorial")
    if n_blocks != 1:
        raise FabParameterError(
            f"blocks={blocks!r}: blocking is implemented for two-level designs only; run each "
            "block as its own multi-level design or use a two-level factorial"
        )
    if center_points and not all(f.numeric for f in parsed):
        raise FabParameterError(
            f"center_points={center_points}: centre points need numeric factors; drop them for "
            "categorical ones"
        )
    grids = np.meshgrid(*[coded_levels(f) for f in reversed(parsed)], indexing="ij")
    coded = np.column_stack([g.ravel() for g in reversed(grids)])
    coded, block, rep = expand(coded, np.ones(len(coded), dtype=int), replicates, center_points)
    meta = {"kind": "full_factorial", "generators": [], "words": [], "resolution": math.inf,
            "replicates": int(replicates), "center_points": int(center_points)}
    return assemble(coded, parsed, meta, block, rep, seed)


def base_matrix(n_base):
    """The 2^m full factorial in Yates order: column j alternates every 2^j runs."""
    runs = np.arange(2**n_base)
    return np.column_stack([np.where(runs >> j & 1, 1.0, -1.0) for j in range(n_base)]) \
        if n_base else np.ones((1, 0))


def fraction_matrix(k, generators, labels):
    """Coded runs of the fraction: the basic factors' 2^m base design, each generated
    column the signed product of its word's other columns."""
    base = [i for i in range(k) if i not in {t for t, _, _ in generators}]
    coded = np.zeros((2 ** len(base), k))
    coded[:, base] = base_matrix(len(base))
    for t, sign, word in _resolution_order(generators, base, labels):
        coded[:, t] = sign * np.prod(coded[:, W.bits(word & ~(1 << t))], axis=1)
    return coded


def two_level(factors, generators, replicates=1, center_points=0, blocks=1,
              block_generators=None, seed=None, kind="fractional_factorial", meta=None):
    """Build a regular two-level design from parsed factors and generators given as
    ``(target index, sign, word mask)``."""
    names = [f.name for f in factors]
    labels = W.factor_labels(names)
    k = len(factors)
    targets = [t for t, _, _ in generators]
    for t in set(targets):
        if targets.count(t) > 1:
            raise FabParameterError(
                f"generators: factor {labels[t]} ({names[t]}) is defined by two generators; keep one")
    words = W.defining_relation([(s, w) for _, s, w in generators])
    if len(words) != 2 ** len(generators) - 1:
        raise FabParameterError("generators: they are not independent (one is a product of others); drop it")
    _check_words(words, names, labels)
    base = [i for i in range(k) if i not in targets]
    coded = fraction_matrix(k, generators, labels)
    n_blocks, block_labels = check_blocks(kind, blocks)
    block_words = _block_words(n_blocks, block_generators, words, base, names, labels)
    block = np.ones(len(coded), dtype=int)
    for j, (_, bw) in enumerate(block_words):
        block += (np.prod(coded[:, W.bits(bw)], axis=1) > 0).astype(int) << j
    coded, block, rep = expand(coded, block, replicates, center_points)
    info = {
        "kind": kind,
        "generators": [f"{labels[t]}={W.signed_str(s, w ^ (1 << t), labels)}"
                       for t, s, w in generators],
        **relation_info(words, block_words, labels, k),
        "block_labels": block_labels if block_labels and replicates == 1 else None,
        "replicates": int(replicates),
        "center_points": int(center_points),
        **(meta or {}),
    }
    return assemble(coded, factors, info, block, rep, seed)


def relation_info(words, block_words, labels, k) -> dict:
    """What a fraction's defining relation and block words say, as the design's attrs."""
    return {
        "words": [list(w) for w in words],
        "defining_relation": _relation_str(words, labels),
        "resolution": W.resolution(words),
        "word_length_pattern": W.word_length_pattern(words, k),
        "block_words": [list(w) for w in block_words],
        "block_generators": [W.word_str(m, labels) for _, m in block_words],
    }


def _relation_str(words, labels):
    return " = ".join(["I"] + [W.signed_str(s, m, labels) for s, m in words]) if words else "I"


def _check_words(words, names, labels):
    for sign, mask in words:
        if mask.bit_count() == 1:
            raise FabParameterError(
                f"the generators make factor {W.word_str(mask, labels)} constant "
                f"(I = {W.signed_str(sign, mask, labels)}); choose other generators"
            )
        if mask.bit_count() == 2:
            a, b = (names[i] for i in W.bits(mask))
            raise FabParameterError(
                f"the generators alias main effect {a} with main effect {b} "
                f"(I = {W.signed_str(sign, mask, labels)}); choose generators whose products "
                "have at least three letters, or use more runs"
            )


def _resolution_order(generators, base, labels):
    """Order generators so every right-hand side uses already-known columns."""
    known, pending, ordered = set(base), list(generators), []
    while pending:
        ready = [g for g in pending if set(W.bits(g[2] & ~(1 << g[0]))) <= known]
        if not ready:
            raise FabParameterError(
                "the generators define factors from each other in a cycle ("
                + ", ".join(labels[t] for t, _, _ in pending) + "); define each from basic factors"
            )
        for g in ready:
            ordered.append(g)
            known.add(g[0])
            pending.remove(g)
    return ordered


def check_blocks(owner, blocks):
    """``blocks`` as a count (and the labels when a list of labels was given); the count
    must be a power of two."""
    if isinstance(blocks, (int, np.integer)):
        n, labels = int(blocks), None
    else:
        labels = list(blocks)
        n = len(labels)
    check_option(owner, "blocks", n, [2**q for q in range(11)])
    return n, labels


def _block_words(n_blocks, block_generators, words, base, names, labels):
    """Block words as ``(1, mask)``: the given ones, or the best by confounded order."""
    q = n_blocks.bit_length() - 1
    if q == 0:
        if block_generators:
            raise FabParameterError(
                "block_generators given but blocks=1; set blocks=2**len(block_generators)")
        return []
    group = W.span(words)
    if block_generators is not None:
        if len(block_generators) != q:
            raise FabParameterError(
                f"{n_blocks} blocks need {q} block generator(s), got {len(block_generators)}"
            )
        chosen = [W.parse_effect(g, names, labels, f"block generator {g!r}") for g in block_generators]
        score = _block_score(chosen, group)
        if score is None:
            raise FabParameterError(
                f"block generators {list(block_generators)} confound a main effect (or each "
                "other) with blocks; choose higher-order interactions"
            )
        return [(1, m) for m in chosen]
    candidates = [sum(1 << base[j] for j in range(len(base)) if c >> j & 1)
                  for c in range(1, 2 ** len(base))]
    best, best_score = None, None
    for combo in itertools.combinations(candidates, q):
        score = _block_score(combo, group)
        if score is not None and (best_score is None or score > best_score):
            best, best_score = combo, score
    if best is None:
        raise FabParameterError(
            f"{n_blocks} blocks cannot be formed without confounding a main effect; "
            "use fewer blocks or more runs"
        )
    return [(1, m) for m in best]


def _block_score(block_gens, group):
    """Sorted lowest orders of the effects confounded with blocks (higher is better),
    or ``None`` when a main effect is confounded or the generators are dependent."""
    orders = []
    for r in range(1, len(block_gens) + 1):
        for sub in itertools.combinations(block_gens, r):
            word = 0
            for m in sub:
                word ^= m
            lowest = min((word ^ g).bit_count() for g in group)
            if lowest <= 1:
                return None
            orders.append(lowest)
    return tuple(sorted(orders))
