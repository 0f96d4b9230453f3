"""Minimum-aberration generators for regular 2^(k-p) fractions, k <= 11, 4-64 runs.

The generators are Montgomery's *Design and Analysis of Experiments* (8th ed., 2013)
Table 8.14, "Selected 2^(k-p) fractional factorial designs", which lists the
minimum-aberration designs of Chen, Sun & Wu (1993), "A catalogue of two-level and
three-level fractional factorial designs with small runs", *Int. Stat. Review* 61,
131-145 (also Wu & Hamada, *Experiments*, Table 5A). Letters are positional (``A`` = the
first factor, ``I`` is skipped). Each entry was checked against an exhaustive search of
all generator sets (the minimum word-length pattern is unique for these sizes), and
``tests/test_doe_design.py`` re-checks minimality by enumeration for the small cases.

>>> CATALOGUE[(5, 8)]
('D=AB', 'E=AC')
"""

#: (number of factors k, runs) -> generators
CATALOGUE = {
    (3, 4): ("C=AB",),
    (4, 8): ("D=ABC",),
    (5, 8): ("D=AB", "E=AC"),
    (6, 8): ("D=AB", "E=AC", "F=BC"),
    (7, 8): ("D=AB", "E=AC", "F=BC", "G=ABC"),
    (5, 16): ("E=ABCD",),
    (6, 16): ("E=ABC", "F=BCD"),
    (7, 16): ("E=ABC", "F=BCD", "G=ACD"),
    (8, 16): ("E=BCD", "F=ACD", "G=ABC", "H=ABD"),
    (9, 16): ("E=ABC", "F=BCD", "G=ACD", "H=ABD", "J=ABCD"),
    (10, 16): ("E=ABC", "F=BCD", "G=ACD", "H=ABD", "J=ABCD", "K=AB"),
    (11, 16): ("E=ABC", "F=BCD", "G=ACD", "H=ABD", "J=ABCD", "K=AB", "L=AC"),
    (6, 32): ("F=ABCDE",),
    (7, 32): ("F=ABCD", "G=ABDE"),
    (8, 32): ("F=ABC", "G=ABD", "H=BCDE"),
    (9, 32): ("F=BCDE", "G=ACDE", "H=ABDE", "J=ABCE"),
    (10, 32): ("F=ABCD", "G=ABCE", "H=ABDE", "J=ACDE", "K=BCDE"),
    (11, 32): ("F=ABC", "G=BCD", "H=CDE", "J=ACD", "K=ADE", "L=BDE"),
    (7, 64): ("G=ABCDEF",),
    (8, 64): ("G=ABCD", "H=ABEF"),
    (9, 64): ("G=ABCD", "H=ACEF", "J=CDEF"),
    (10, 64): ("G=BCDF", "H=ACDF", "J=ABDE", "K=ABCE"),
    (11, 64): ("G=CDE", "H=ABCD", "J=ABF", "K=BDEF", "L=ADEF"),
}
