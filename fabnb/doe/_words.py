"""Defining-relation algebra of regular two-level fractions, on bit masks.

An effect (a main effect or an interaction) is a *word*: the set of factors whose
coded columns are multiplied together. Factor ``i`` is bit ``i`` of an ``int`` mask, so

* the product of two effects is ``a ^ b`` (``A·A = I`` because ``x² = 1`` for ``x = ±1``),
* the order of an effect (its word length) is ``mask.bit_count()``.

A generator ``D = ABC`` says the ``D`` column is the ``ABC`` column, i.e. the word
``ABCD`` is constant (+1) over the fraction: ``I = ABCD``. With ``p`` generators the
defining relation is the group of all ``2^p`` products of generator words, each carrying
the product of the generators' signs. The *resolution* is the length of the shortest
word; the *word-length pattern* ``(A_3, A_4, ...)`` counts words by length, and a design
has *minimum aberration* when its pattern is lexicographically smallest. The aliases of
an effect ``e`` are ``e·w`` for every word ``w``, with the word's sign.

>>> words = defining_relation([(1, 0b1111)])          # I = ABCD
>>> [word_str(m, "ABCD") for _, m in words]
['ABCD']
>>> [word_str(m, "ABCD") for _, m in aliases(0b0011, words)]   # AB = CD
['CD']
"""

import math
import re

from ..errors import FabParameterError

#: Letter labels used for factors, as in Montgomery and Box-Hunter-Hunter: ``I`` is
#: skipped because it names the identity word.
LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"


def factor_labels(names):
    """Letter labels for factors: the names themselves when each is one letter."""
    if all(len(n) == 1 and n in LETTERS for n in names):
        return list(names)
    return [LETTERS[i] if i < len(LETTERS) else f"X{i + 1}" for i in range(len(names))]


def bits(mask):
    """Indices of the set bits of ``mask``, ascending."""
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def word_str(mask, labels, sep=None):
    """``0b0111`` with labels ``ABC..`` -> ``"ABC"``; ``0`` -> ``"I"``."""
    if mask == 0:
        return "I"
    parts = [labels[i] for i in bits(mask)]
    if sep is None:
        sep = "" if all(len(p) == 1 for p in parts) else "*"
    return sep.join(parts)


def signed_str(sign, mask, labels):
    """``(-1, 0b0111)`` -> ``"-ABC"``."""
    return ("-" if sign < 0 else "") + word_str(mask, labels)


def span(words):
    """All products of ``words`` (the group they generate), identity included.

    Returns a dict ``mask -> sign``. Raises if two products give the same mask with
    opposite signs (the generators contradict each other: ``I = -I``).
    """
    group = {0: 1}
    for sign, mask in words:
        for m, s in list(group.items()):
            new, new_sign = m ^ mask, s * sign
            if group.get(new, new_sign) != new_sign:
                raise FabParameterError(
                    "generators: they contradict each other (their product gives I = -I); "
                    "remove the generator that repeats another with the opposite sign"
                )
            group[new] = new_sign
    return group


def defining_relation(words):
    """Every non-identity word of the defining relation as ``(sign, mask)``,
    sorted by length then mask."""
    group = span(words)
    return sorted(((s, m) for m, s in group.items() if m), key=lambda sm: (sm[1].bit_count(), sm[1]))


def word_length_pattern(words, n_factors):
    """``(A_1, ..., A_k)``: number of words of each length (index 0 is length 1)."""
    counts = [0] * n_factors
    for _, mask in words:
        counts[mask.bit_count() - 1] += 1
    return tuple(counts)


def resolution(words):
    """Length of the shortest word; ``math.inf`` for a full factorial (no words)."""
    return min((m.bit_count() for _, m in words), default=math.inf)


def aliases(effect, words):
    """Aliases ``(sign, mask)`` of ``effect``: ``effect·w`` for each word ``w``."""
    return [(s, effect ^ m) for s, m in words]


def basis(words):
    """A minimal set of the given words generating the same group (GF(2) elimination)."""
    chosen, group = [], {0: 1}
    for sign, mask in words:
        if mask not in group:
            chosen.append((sign, mask))
            group = span(chosen)
    return chosen


def as_generator(sign, mask, labels):
    """Write a word as a generator of its highest factor: ``I = ABCD`` -> ``"D=ABC"``."""
    top = mask.bit_length() - 1
    return f"{labels[top]}={signed_str(sign, mask ^ (1 << top), labels)}"


def parse_effect(text, names, labels, what):
    """Mask of an effect written as ``"ABC"`` (letter labels), or factor names joined by
    ``*``, ``:`` or spaces (``"power*pressure"``). ``what`` names the source in errors."""
    if not isinstance(text, str):
        raise FabParameterError(f"{what} must be a string such as 'ABC' or 'power*pressure'")
    text = text.strip()
    lookup = {n: i for i, n in enumerate(names)}
    for i, lab in enumerate(labels):
        lookup.setdefault(lab, i)
    if re.search(r"[*:·\s]", text):
        tokens = [t for t in re.split(r"[*:·\s]+", text) if t]
    elif text in lookup:
        tokens = [text]
    else:
        tokens = list(text)
    mask = 0
    for tok in tokens:
        if tok not in lookup:
            known = ", ".join(f"{lab}={n}" if lab != n else n for lab, n in zip(labels, names))
            raise FabParameterError(
                f"{what} references unknown factor {tok!r}; known factors are {known} "
                "(use these letters or names joined by '*')"
            )
        bit = 1 << lookup[tok]
        if mask & bit:
            raise FabParameterError(f"{what} repeats factor {tok!r}; write each factor once")
        mask |= bit
    if not mask:
        raise FabParameterError(f"{what} is empty; write it like 'D=ABC'")
    return mask


def parse_generator(text, names, labels):
    """``"E=-ABD"`` -> ``(generated factor index, sign, word mask of I = -ABDE)``."""
    if not isinstance(text, str) or text.count("=") != 1:
        raise FabParameterError(f"generator {text!r} must look like 'D=ABC' or 'E=-ABD' (one '=')")
    left, right = (part.strip() for part in text.split("="))
    right = right.replace(" ", "") if not re.search(r"[*:·]", right) else right
    sign = 1
    if right.startswith(("+", "-")):
        sign, right = (-1 if right[0] == "-" else 1), right[1:]
    target = parse_effect(left, names, labels, f"generator {text!r}")
    if target.bit_count() != 1:
        raise FabParameterError(f"generator {text!r} must define a single factor on the left of '='")
    word = parse_effect(right, names, labels, f"generator {text!r}")
    if word & target:
        raise FabParameterError(
            f"generator {text!r} uses its own factor {left!r} on the right; "
            "define it from other factors, e.g. 'D=ABC'"
        )
    if word.bit_count() < 2:
        raise FabParameterError(
            f"generator {text!r} aliases main effect {left} with main effect {right}, "
            "so neither can be estimated; put at least two factors on the right (e.g. 'D=ABC')"
        )
    return target.bit_length() - 1, sign, word | target


def constant_words(runs, k):
    """Words constant over a set of two-level runs: the defining relation of the runs.

    ``runs`` are bit masks (bit ``j`` set = factor ``j`` at its low level, -1). The
    product column of word ``w`` at run ``r`` is ``(-1)^popcount(w & r)``, so ``w`` is
    constant exactly when ``popcount(w & (r ^ r0))`` is even for every run: the words
    form the null space over GF(2) of the differences ``r ^ r0``. Returns a basis of that
    space as ``(sign, mask)`` (sign of the word at ``r0``), one word per *free* factor
    after elimination with the lowest factors as pivots, so the free factors are the
    generated ones (``D = ABC`` rather than ``A = BCD``), and the free factor of each.

    >>> runs = [0b0000, 0b0011, 0b0101, 0b0110, 0b1001, 0b1010, 0b1100, 0b1111]  # I = ABCD
    >>> constant_words(runs, 4)
    ([(1, 15)], [3])
    """
    pivots = {}  # pivot bit -> fully reduced row of the difference space
    for r in runs:
        row = r ^ runs[0]
        for bit, pivot_row in pivots.items():
            if row >> bit & 1:
                row ^= pivot_row
        if row:
            bit = (row & -row).bit_length() - 1
            for other in pivots:
                if pivots[other] >> bit & 1:
                    pivots[other] ^= row
            pivots[bit] = row
    free = [f for f in range(k) if f not in pivots]
    words = []
    for f in free:
        mask = (1 << f) | sum(1 << bit for bit, row in pivots.items() if row >> f & 1)
        words.append((-1 if (mask & runs[0]).bit_count() % 2 else 1, mask))
    return words, free
