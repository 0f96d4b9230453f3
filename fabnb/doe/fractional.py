"""Regular 2^(k-p) fractions: generation, alias structure, resolution, fold-over.

A fraction is fixed by ``p`` generators (``D=ABC``, ``E=-ABD``); its defining relation,
resolution and alias chains follow from the word algebra in :mod:`._words`. Without
generators, :func:`fractional_factorial` takes the minimum-aberration design of the
catalogue (:mod:`._catalogue`) with the fewest runs that reaches the requested
resolution (or the requested number of runs).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from .._params import Integral, Interval, check_option, check_params
from ..errors import FabDataError, FabFitError, FabParameterError
from . import _words as W
from ._catalogue import CATALOGUE
from ._layout import RULES, Factor, assemble, design_meta, parse_factors
from .factorial import BLOCK_RULES, relation_info, two_level

MAX_CATALOGUE_RUNS = 64


def fractional_factorial(factors, generators=None, resolution=None, center_points=0, blocks=1,
                         replicates=1, seed=None, runs=None, block_generators=None):
    """Two-level fractional factorial 2^(k-p).

    Parameters
    ----------
    factors : list of str or dict name -> (low, high)
    generators : list of str, optional
        ``["D=ABC", "E=-ABD"]``: letters are the factor names when these are single
        letters, else positional labels A, B, C... (I skipped); factor names joined by
        ``*`` also work (``"gas=power*pressure*time"``).
    resolution : int, optional
        Without generators: the smallest catalogued minimum-aberration fraction with at
        least this resolution (a full factorial if that is as small).
    runs : int, optional
        Without generators: the minimum-aberration fraction with this many runs.
    center_points : int
        Centre runs added to every block.
    blocks : int or list of labels
        Number of blocks (a power of two) or their labels, e.g.
        ``["before wet clean", "after wet clean"]``.
    block_generators : list of str, optional
        Interactions confounded with blocks (default: the highest-order choice).
    replicates : int
    seed : int, optional
        Randomizes the run order within blocks; ``None`` keeps standard order.

    >>> d = fractional_factorial(["A", "B", "C", "D"], generators=["D=ABC"])
    >>> len(d), resolution(d), d.attrs["doe"]["defining_relation"]
    (8, 4, 'I = ABCD')
    >>> fractional_factorial(list("ABCDEFG"), resolution=4).attrs["doe"]["generators"]
    ['E=ABC', 'F=BCD', 'G=ACD']
    """
    check_params("fractional_factorial", {
        **RULES, **BLOCK_RULES,
        "generators": [None, str, list, tuple],
        "resolution": [None, Interval(Integral, 3, None, closed="left")],
        "runs": [None, Interval(Integral, 4, None, closed="left")],
    }, {"factors": factors, "generators": generators, "resolution": resolution,
        "center_points": center_points, "blocks": blocks, "replicates": replicates, "seed": seed,
        "runs": runs, "block_generators": block_generators})
    parsed = parse_factors(factors)
    if any(f.n_levels != 2 for f in parsed):
        raise FabParameterError("factors: fractional factorials are two-level; give each factor (low, high)")
    names = [f.name for f in parsed]
    labels = W.factor_labels(names)
    if generators is not None:
        if isinstance(generators, str):
            generators = [generators]
        gens = [W.parse_generator(g, names, labels) for g in generators]
    else:
        gens = catalogue_generators(len(parsed), resolution, runs)
    kind = "fractional_factorial" if gens else "full_factorial"
    return two_level(parsed, gens, replicates, center_points, blocks, block_generators, seed, kind)


def catalogue_generators(k, resolution=None, runs=None):
    """Minimum-aberration generators ``(target, sign, word)`` for ``k`` factors."""
    positional = list(W.LETTERS[:k])
    if runs is not None:
        check_option("fractional_factorial", "runs", runs, [2**m for m in range(2, min(k, 6) + 1)])
        candidates = [runs]
    elif resolution is not None:
        candidates = [2**m for m in range(max(2, math.ceil(math.log2(k + 1))), 7)]
    else:
        raise FabParameterError("give generators=[...], resolution= or runs= to choose the fraction")
    for n in candidates:
        if n == 2**k:
            return []
        entry = CATALOGUE.get((k, n))
        if entry is None:
            continue
        gens = [W.parse_generator(g, positional, positional) for g in entry]
        if runs is not None or W.resolution(W.defining_relation([(s, w) for _, s, w in gens])) >= resolution:
            return gens
    raise FabParameterError(
        f"no catalogued minimum-aberration design for {k} factors "
        + (f"in {runs} runs" if runs else f"at resolution {resolution} within 64 runs")
        + " (catalogue: k <= 11, 4-64 runs); pass generators= explicitly or lower the resolution"
    )


def resolution(design):
    """Resolution of a design: the shortest word of its defining relation
    (``math.inf`` for a full factorial; 3 for Plackett-Burman screening designs).

    >>> resolution(fractional_factorial(list("ABCDE"), generators=["D=AB", "E=AC"]))
    3
    """
    meta = design_meta(design)
    if "resolution" not in meta:
        raise FabFitError(f"a {meta['kind']} design has no resolution; it is not a two-level fraction")
    return meta["resolution"]


@dataclass
class AliasStructure:
    """Defining relation and alias chains of a regular fraction.

    ``chains`` maps the leading (lowest-order) effect of each chain to its signed
    aliases, all as letter words; ``str()`` prints them as engineers read them.
    """

    defining_relation: str
    chains: dict
    labels: list
    names: list
    max_order: int
    block_confounded: list = field(default_factory=list)

    def __str__(self):
        lines = [f"Defining relation: {self.defining_relation}"]
        if self.labels != self.names:
            lines.append("Factors: " + ", ".join(f"{a} = {n}" for a, n in zip(self.labels, self.names)))
        if self.block_confounded:
            lines.append("Confounded with blocks: " + ", ".join(self.block_confounded))
        lines.append(f"Aliases (effects up to order {self.max_order}):")
        lines += [" = ".join([lead, *rest]) for lead, rest in self.chains.items()]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def alias_structure(design, max_order=3):
    """Defining relation and alias chains of a regular two-level design.

    Every chain lists the effects of order ``<= max_order`` that share one column of
    the design (``A = BCD`` reads "the A column also estimates BCD"), with the sign of
    each alias relative to the leading effect.

    >>> d = fractional_factorial(["A", "B", "C", "D"], generators=["D=ABC"])
    >>> print(alias_structure(d, max_order=2))
    Defining relation: I = ABCD
    Aliases (effects up to order 2):
    A
    B
    C
    D
    AB = CD
    AC = BD
    AD = BC
    """
    check_params("alias_structure", {"max_order": [Interval(Integral, 1, None, closed="left")]},
                 {"max_order": max_order})
    meta = design_meta(design)
    if "words" not in meta:
        raise FabFitError(
            f"alias chains exist for regular two-level fractions only; a {meta['kind']} design "
            "has none (a Plackett-Burman design aliases effects partially: inspect the "
            "correlations of its effect columns instead)"
        )
    labels, k = meta["labels"], len(meta["factors"])
    words = [tuple(w) for w in meta["words"]]
    group = W.span(words)
    chains, seen = {}, set(group)
    for effect in sorted(range(1, 2**k), key=_word_key):
        if effect in seen:
            continue
        coset = [(s, effect ^ m) for m, s in group.items()]
        seen.update(m for _, m in coset)
        if effect.bit_count() > max_order:
            continue
        rest = sorted((sm for sm in coset if sm[1] != effect and sm[1].bit_count() <= max_order),
                      key=lambda sm: _word_key(sm[1]))
        chains[W.word_str(effect, labels)] = [W.signed_str(s, m, labels) for s, m in rest]
    blocked = []
    for _, bw in meta.get("block_words", []):
        coset = sorted((bw ^ m for m in group), key=_word_key)
        shown = [m for m in coset if m.bit_count() <= max_order] or coset[:1]
        blocked += [W.word_str(m, labels) for m in shown]
    return AliasStructure(meta.get("defining_relation", "I"), chains, labels, meta["factors"],
                          max_order, sorted(blocked, key=lambda w: (len(w), w)))


def _word_key(mask):
    """Textbook order: by order, then alphabetically (AD before BC)."""
    return mask.bit_count(), W.bits(mask)


def fold_over(design, factors=None, seed=None):
    """Fold-over: append the mirror-image fraction with the signs of ``factors``
    reversed (all factors by default), as a second block.

    A full fold-over of a resolution III design gives resolution IV (main effects
    free of two-factor interactions); folding one factor frees that factor's main
    effect and its two-factor interactions. The combined defining relation keeps the
    words that contain an even number of the folded factors.

    >>> d = fractional_factorial(list("ABCDEFG"), runs=8)
    >>> resolution(d), resolution(fold_over(d))
    (3, 4)
    """
    check_params("fold_over", {**RULES, "factors": [None, str, list, tuple]},
                 {"factors": factors, "seed": seed})
    meta = design_meta(design)
    if "words" not in meta:
        raise FabFitError(f"fold-over needs a regular two-level fraction, got a {meta['kind']} design")
    names, labels = meta["factors"], meta["labels"]
    if factors is None:
        folded = (1 << len(names)) - 1
    else:
        folded = W.parse_effect(" ".join(factors) if not isinstance(factors, str) else factors,
                                names, labels, "fold_over factors")
    original = design.sort_values("std_order")
    coded = original[names].to_numpy(dtype=float)
    mirror = coded * np.where([folded >> j & 1 for j in range(len(names))], -1.0, 1.0)
    words = [(s, m) for s, m in (tuple(w) for w in meta["words"]) if (m & folded).bit_count() % 2 == 0]
    words = W.defining_relation(W.basis(words))
    block = np.concatenate([np.ones(len(coded), dtype=int), np.full(len(coded), 2)])
    replicate = np.concatenate([original["replicate"].to_numpy()] * 2)
    factors_ = [Factor(n, meta["levels"].get(n)) for n in names]
    info = {key: meta[key] for key in ("replicates", "center_points") if key in meta}
    info.update({
        "kind": "fold_over",
        "generators": [W.as_generator(s, m, labels) for s, m in W.basis(words)],
        "words": [list(w) for w in words],
        "defining_relation": " = ".join(["I"] + [W.signed_str(s, m, labels) for s, m in words]),
        "resolution": W.resolution(words),
        "word_length_pattern": W.word_length_pattern(words, len(names)),
        "block_words": [],
        "folded": W.word_str(folded, labels),
    })
    return assemble(np.vstack([coded, mirror]), factors_, info, block, replicate, seed)


def fraction_meta(coded, block, names, generators=None):
    """Generators, defining relation, resolution and block words of a two-level run
    table typed in from elsewhere (:func:`fabnb.doe.as_design`), found from its columns.

    A word belongs to the defining relation when its product column is constant (±1)
    over the factorial runs (centre runs, all zero, are left out). The runs form a
    *regular* fraction when they are every one of the ``2^(k-p)`` settings that satisfy
    the ``p`` independent words (replicates allowed); only then are the words returned,
    since in an irregular set of runs (a Plackett-Burman design, a fraction with a run
    missing) effects are partially aliased and there are no alias chains. Block words are
    the further words constant within every block. ``generators`` typed from the book
    (``["D=ABC"]``) are checked against the columns and kept as written.

    Returns the metadata dict (empty when the runs are not a regular two-level fraction
    and no generators were given).

    >>> import numpy as np
    >>> x = np.array([[a, b, c, a * b * c] for c in (-1, 1) for b in (-1, 1) for a in (-1, 1)])
    >>> fraction_meta(x, np.ones(8), list("ABCD"))["defining_relation"]
    'I = ABCD'
    """
    k = len(names)
    labels = W.factor_labels(names)
    coded = np.asarray(coded, dtype=float)
    corner = np.all(np.abs(coded) == 1, axis=1)
    centre = np.all(coded == 0, axis=1)
    generators = [generators] if isinstance(generators, str) else list(generators or [])
    given = [W.parse_generator(g, names, labels) for g in generators]
    if not corner.any() or not np.all(corner | centre):
        if given:
            raise FabDataError(
                f"generators {generators} given, but the factor columns are not a two-level "
                "design (every run must be at -1/+1, or at the centre 0, in every factor); "
                "check the typed-in table"
            )
        return {}
    runs = [int(sum(1 << j for j in range(k) if x[j] < 0)) for x in coded[corner]]
    basis, free = W.constant_words(runs, k)
    group = W.span(basis)
    rows = np.flatnonzero(corner)
    for (_, sign, word), text in zip(given, generators):
        if group.get(word) != sign:
            column = np.prod(coded[np.ix_(rows, W.bits(word))], axis=1)
            bad = int(rows[np.flatnonzero(column != sign)[0]])
            raise FabDataError(
                f"the factor columns do not satisfy generator {text!r}: in row {bad} the product "
                f"of {W.word_str(word, labels)} is {-sign:+d}, not {sign:+d}; check the table "
                "or the generator"
            )
    if len(set(runs)) != 2 ** (k - len(basis)):
        if given:
            raise FabDataError(
                f"the runs are not a regular fraction: {len(set(runs))} distinct factorial runs, "
                f"but the defining relation fixes {2 ** (k - len(basis))}; add the missing runs"
            )
        return {}
    words = W.defining_relation(basis)
    if given:
        gens = [f"{labels[t]}={W.signed_str(s, w ^ (1 << t), labels)}" for t, s, w in given]
    else:
        gens = [f"{labels[f]}={W.signed_str(s, m ^ (1 << f), labels)}" for (s, m), f in zip(basis, free)]
    block = np.asarray(block)[corner]
    first = {}
    for r, b in zip(runs, block):
        first.setdefault(b, r)
    within = [r ^ first[b] for r, b in zip(runs, block)]
    block_words, known = [], dict(group)
    for _, mask in W.constant_words(within, k)[0]:
        if mask not in known:
            block_words.append((1, mask))
            known = W.span(basis + block_words)
    return {"generators": gens, **relation_info(words, block_words, labels, k)}
