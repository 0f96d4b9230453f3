"""Design generation in fabnb.doe, checked against published tables and against
independent computations (products of the design's own columns, brute-force search)."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from fabnb import doe
from fabnb.doe._catalogue import CATALOGUE
from fabnb.errors import FabDataError, FabFitError, FabParameterError

LETTERS = "ABCDEFGHJKL"


# --- independent helpers: everything from the design matrix itself ------------------

def effect_columns(design, max_order=None):
    """{mask: product column} for every effect, computed from the coded columns."""
    names = design.attrs["doe"]["factors"]
    x = design[names].to_numpy(float)
    k = len(names)
    cols = {0: np.ones(len(x))}
    for mask in range(1, 2**k):
        if max_order and mask.bit_count() > max_order:
            continue
        low = mask & -mask
        cols[mask] = cols[mask ^ low] * x[:, low.bit_length() - 1] if (mask ^ low) in cols \
            else np.prod(x[:, [i for i in range(k) if mask >> i & 1]], axis=1)
    return cols


def wlp_from_matrix(design):
    """Word-length pattern (A3, A4, ...): words are effects whose column is constant."""
    k = len(design.attrs["doe"]["factors"])
    counts = [0] * (k + 1)
    for mask, col in effect_columns(design).items():
        if mask and np.all(np.abs(col - col[0]) < 1e-12):
            counts[mask.bit_count()] += 1
    return tuple(counts[3:]), min((i for i, c in enumerate(counts) if c and i), default=math.inf)


def wlp_bruteforce(m, gens):
    """WLP of the fraction whose added factors are the base-column masks ``gens``."""
    k = m + len(gens)
    counts = [0] * (k + 1)
    for r in range(1, len(gens) + 1):
        for sub in itertools.combinations(range(len(gens)), r):
            x = 0
            for j in sub:
                x ^= gens[j]
            counts[x.bit_count() + r] += 1
    return tuple(counts[3:])


# Montgomery (2013), Design and Analysis of Experiments, 8th ed., Table 8.14: the
# resolution printed for each selected design (k, runs) -> resolution.
PUBLISHED_RESOLUTION = {
    (4, 8): 4, (5, 8): 3, (6, 8): 3, (7, 8): 3,
    (5, 16): 5, (6, 16): 4, (7, 16): 4, (8, 16): 4, (9, 16): 3, (10, 16): 3, (11, 16): 3,
    (6, 32): 6, (7, 32): 4, (8, 32): 4, (9, 32): 4, (10, 32): 4, (11, 32): 4,
    (7, 64): 7, (8, 64): 5, (9, 64): 4, (10, 64): 4, (11, 64): 4,
}


@pytest.mark.parametrize("key", sorted(PUBLISHED_RESOLUTION))
def test_catalogue_fraction_has_published_resolution(key):
    k, runs = key
    design = doe.fractional_factorial(list(LETTERS[:k]), runs=runs)
    wlp, res = wlp_from_matrix(design)
    assert len(design) == runs
    assert res == PUBLISHED_RESOLUTION[key] == doe.resolution(design)
    assert wlp == design.attrs["doe"]["word_length_pattern"][2:]
    # every catalogue generator holds in the generated columns
    cols = effect_columns(design)
    for gen in CATALOGUE[key]:
        left, right = gen.split("=")
        word = sum(1 << LETTERS.index(c) for c in left + right)
        assert np.all(cols[word] == 1)


SMALL_CASES = [(k, m) for m in (3, 4) for k in range(m + 1, min(11, 2**m - 1) + 1)] + \
              [(6, 5), (7, 5), (8, 5), (9, 5)]


@pytest.mark.parametrize("k,m", SMALL_CASES)
def test_catalogue_is_minimum_aberration_by_enumeration(k, m):
    """Enumerate every set of p = k - m generators (interaction columns of the 2^m base
    design) and check no fraction has a smaller word-length pattern."""
    candidates = [g for g in range(1, 2**m) if g.bit_count() >= 2]
    best = min(wlp_bruteforce(m, list(c)) for c in itertools.combinations(candidates, k - m))
    design = doe.fractional_factorial(list(LETTERS[:k]), runs=2**m)
    assert wlp_from_matrix(design)[0] == best


@pytest.mark.parametrize("k", range(4, 12))
def test_resolution_request_gives_smallest_fraction(k):
    names = list(LETTERS[:k])
    d3 = doe.fractional_factorial(names, resolution=3)
    assert doe.resolution(d3) >= 3 and len(d3) == 2 ** math.ceil(math.log2(k + 1))
    d4 = doe.fractional_factorial(names, resolution=4)
    assert doe.resolution(d4) >= 4 and len(d4) == 2 ** math.ceil(math.log2(2 * k))
    published_res5_runs = {4: 16, 5: 16, 6: 32, 7: 64, 8: 64}  # Montgomery Table 8.14
    if k in published_res5_runs:
        d5 = doe.fractional_factorial(names, resolution=5)
        assert doe.resolution(d5) >= 5 and len(d5) == published_res5_runs[k]
    else:
        with pytest.raises(FabFitError, match="no catalogued"):
            doe.fractional_factorial(names, resolution=5)


def test_user_generators_with_signs_and_names():
    d = doe.fractional_factorial(list("ABCDE"), generators=["D=AB", "E=-ABC"])
    assert np.array_equal(d["E"], -d["A"] * d["B"] * d["C"])
    assert np.array_equal(d["D"], d["A"] * d["B"])
    assert d.attrs["doe"]["defining_relation"] == "I = ABD = -CDE = -ABCE"
    named = doe.fractional_factorial({"power": (300, 700), "pressure": (20, 60), "gas": (50, 150),
                                      "time": (30, 90)}, generators=["time=power*pressure*gas"])
    assert np.array_equal(named["time"], named["power"] * named["pressure"] * named["gas"])
    np.testing.assert_allclose(sorted(set(named["power_natural"])), [300.0, 700.0], rtol=1e-12)
    assert named.attrs["doe"]["generators"] == ["D=ABC"]


@pytest.mark.parametrize("names,gens", [
    (list("ABCDEFG"), ["D=AB", "E=AC", "F=BC", "G=ABC"]),
    (list("ABCDEF"), ["E=ABC", "F=-BCD"]),
    (list("ABCDE"), ["D=-AB", "E=AC"]),
])
def test_alias_chains_match_column_products(names, gens):
    """Effects (order <= 3) alias exactly when their product columns are equal up to sign."""
    d = doe.fractional_factorial(names, generators=gens)
    cols = effect_columns(d, max_order=3)
    chains = doe.alias_structure(d, max_order=3).chains
    labels = d.attrs["doe"]["labels"]

    def mask(word):
        return sum(1 << labels.index(c) for c in word)

    listed = set()
    for lead, rest in chains.items():
        lead_col = cols[mask(lead)]
        group = {mask(lead)}
        for alias in rest:
            sign = -1 if alias.startswith("-") else 1
            assert np.array_equal(cols[mask(alias.lstrip("-"))], sign * lead_col), (lead, alias)
            group.add(mask(alias.lstrip("-")))
        # nothing else of order <= 3 shares the column
        others = {m for m, c in cols.items() if m and np.array_equal(np.abs(c @ lead_col), len(c))}
        assert others == group
        listed |= group
    # every effect not aliased with I appears in some chain
    constant = {m for m, c in cols.items() if np.all(c == c[0])}
    assert listed == set(cols) - constant


def test_alias_structure_prints_like_the_textbook():
    d = doe.fractional_factorial(list("ABCD"), generators=["D=ABC"])
    text = str(doe.alias_structure(d, max_order=2))
    assert "I = ABCD" in text
    for line in ("AB = CD", "AC = BD", "AD = BC"):
        assert line in text.splitlines()


def test_blocking_confounds_the_chosen_interaction():
    d = doe.full_factorial(list("ABCD"), blocks=["before wet clean", "after wet clean"], seed=0)
    abcd = d["A"] * d["B"] * d["C"] * d["D"]
    assert (abcd.groupby(d["block"]).nunique() == 1).all()
    for mask_cols in itertools.chain.from_iterable(itertools.combinations("ABCD", r) for r in (1, 2, 3)):
        col = d[list(mask_cols)].prod(axis=1)
        assert (col.groupby(d["block"]).sum() == 0).all(), mask_cols  # balanced within blocks
    assert set(d["block"]) == {"before wet clean", "after wet clean"}
    assert doe.alias_structure(d).block_confounded == ["ABCD"]
    d4 = doe.full_factorial(list("ABCDE"), blocks=4)
    for f in "ABCDE":
        assert (d4[f].groupby(d4["block"]).sum() == 0).all()
    chosen = doe.full_factorial(list("ABC"), blocks=2, block_generators=["AB"])
    assert ((chosen["A"] * chosen["B"]).groupby(chosen["block"]).nunique() == 1).all()


def test_centre_points_replicates_and_natural_units():
    d = doe.full_factorial({"power": (300, 700), "pressure": (20, 60)}, replicates=2,
                           center_points=3, seed=1)
    assert len(d) == 2 * (4 + 3)
    assert d["center_point"].sum() == 6
    np.testing.assert_allclose(d.loc[d["center_point"], "power_natural"], 500.0, rtol=1e-12)
    assert sorted(d["replicate"].unique()) == [1, 2]
    assert d["std_order"].tolist() == list(range(1, 15))


def test_seeded_randomization_reproduces_within_blocks():
    make = lambda seed: doe.full_factorial(list("ABCD"), blocks=2, center_points=2, seed=seed)
    a, b, c = make(7), make(7), make(8)
    assert a["run_order"].tolist() == b["run_order"].tolist()
    assert a["run_order"].tolist() != c["run_order"].tolist()
    assert sorted(a["run_order"]) == list(range(1, 21))
    # block 1 runs first, then block 2
    assert a.loc[a["block"] == 1, "run_order"].max() < a.loc[a["block"] == 2, "run_order"].min()
    assert make(None)["run_order"].tolist() == list(range(1, 21))


def test_metadata_survives_ordinary_pandas_operations():
    d = doe.fractional_factorial(list("ABCDE"), resolution=3, seed=0)
    for frame in (d.copy(), d.assign(y=1.0), d.sort_values("run_order"), d.loc[d.index[:4]],
                  d.reset_index(drop=True)):
        assert frame.attrs["doe"]["generators"] == ["D=AB", "E=AC"]
    d["y"] = np.arange(len(d), dtype=float)
    assert doe.resolution(d) == 3
    lost = d.merge(pd.DataFrame({"std_order": [1], "z": [0]}), on="std_order")
    with pytest.raises(FabFitError, match="as_design"):
        doe.alias_structure(lost)


def test_general_full_factorial_and_cost():
    d = doe.full_factorial(list("ABCDE"), levels=3)
    assert len(d) == 243 and len(d.drop_duplicates(list("ABCDE"))) == 243
    assert set(d["A"]) == {-1.0, 0.0, 1.0}
    cost = doe.design_cost(d, wafer_cost=50_000)
    assert cost.total == pytest.approx(12.15e6) and "12.15 M$" in str(cost)
    mixed = doe.full_factorial({"gas": ["N2", "Ar", "O2"], "power": (300, 700)})
    assert len(mixed) == 6 and set(mixed["gas_natural"]) == {"N2", "Ar", "O2"}


@pytest.mark.parametrize("runs", [8, 12, 16, 20, 24])
def test_plackett_burman_is_orthogonal(runs):
    d = doe.plackett_burman([f"F{i}" for i in range(runs - 1)], runs=runs)
    x = np.column_stack([np.ones(runs), d[[f"F{i}" for i in range(runs - 1)]].to_numpy()])
    assert np.allclose(x.T @ x, runs * np.eye(runs))


def test_plackett_burman_12_partial_aliasing_is_one_third():
    """Published property of the 12-run PB: a main effect column correlates ±1/3 with
    every two-factor interaction not containing it."""
    d = doe.plackett_burman([f"F{i}" for i in range(11)])
    x = d[[f"F{i}" for i in range(11)]].to_numpy()
    for a, (b, c) in itertools.product(range(11), itertools.combinations(range(11), 2)):
        if a not in (b, c):
            assert abs(x[:, a] @ (x[:, b] * x[:, c])) / 12 == pytest.approx(1 / 3)
    with pytest.raises(FabFitError, match="partial|regular"):
        doe.alias_structure(d)


def quadratic_variance(design, names, points):
    """Prediction variance (units of sigma^2) of the full quadratic model at points."""
    def row(x):
        k = len(x)
        return np.r_[1, x, [x[i] * x[j] for i, j in itertools.combinations(range(k), 2)], x**2]

    x = np.array([row(r) for r in design[names].to_numpy()])
    inv = np.linalg.inv(x.T @ x)
    return [row(np.asarray(p)) @ inv @ row(np.asarray(p)) for p in points]


@pytest.mark.parametrize("k,alpha", [(2, 1.4142), (3, 1.6818), (4, 2.0), (5, 2.0)])
def test_central_composite_rotatable(k, alpha):
    names = list(LETTERS[:k])
    d = doe.central_composite(names, center_points=5)
    assert d.attrs["doe"]["alpha"] == pytest.approx(alpha, abs=1e-4)  # Montgomery Table 11.? values
    n_f = 2**k if k < 5 else 16
    assert len(d) == n_f + 2 * k + 5
    r = 1.2
    pts = [np.r_[r, np.zeros(k - 1)], np.r_[r / np.sqrt(2), r / np.sqrt(2), np.zeros(k - 2)]]
    v = quadratic_variance(d, names, pts)
    assert v[0] == pytest.approx(v[1], rel=1e-9)  # rotatable: variance depends on radius only
    face = doe.central_composite(names, alpha="face")
    assert face[names].abs().max().max() == 1.0


@pytest.mark.parametrize("k,runs", [(3, 12), (4, 24), (5, 40), (6, 48), (7, 56)])
def test_box_behnken(k, runs):
    names = list(LETTERS[:k])
    d = doe.box_behnken(names, center_points=3)
    edge = d[~d["center_point"]]
    assert len(edge) == runs  # Box & Behnken (1960) run counts
    assert set(edge[names].abs().sum(axis=1)) == ({2.0} if k <= 5 else {3.0})
    v = quadratic_variance(d, names, [np.zeros(k)])
    assert np.isfinite(v[0])  # full quadratic estimable


def test_fold_over_raises_resolution_and_frees_a_factor():
    d = doe.fractional_factorial(list("ABCDEFG"), runs=8, seed=0)
    full = doe.fold_over(d, seed=0)
    assert len(full) == 16 and doe.resolution(full) == 4
    assert wlp_from_matrix(full)[1] == 4
    one = doe.fold_over(d, factors=["A"])
    cols = effect_columns(one, max_order=2)
    a = 1 << 0
    for m, c in cols.items():
        if m not in (0, a) and m.bit_count() <= 2:
            assert abs(c @ cols[a]) < 1e-9  # A is clear of all other main effects and 2fi


def test_ofat_runs():
    d = doe.ofat(["power", "pressure", "gas"])
    x = d[["power", "pressure", "gas"]].to_numpy()
    assert x.tolist() == [[-1, -1, -1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
    assert len(doe.ofat(["a", "b"], baseline="center")) == 5


def test_split_lot_is_balanced_randomized_and_powered():
    cands = pd.DataFrame({"step": ["S12", "S30"], "tool": ["S12-C3", "S30-C1"]})
    d = doe.split_lot_design(cands, lots=3, wafers_per_lot=24, seed=5)
    assert len(d) == 72 and set(d["lot"]) == {"SPL01", "SPL02", "SPL03"}
    for _, lot in d.groupby("lot"):
        assert (lot["S12"] == 1).sum() == 12 and (lot["S30"] == 1).sum() == 12
        assert (lot["S12"] * lot["S30"]).sum() == 0  # crossed: orthogonal within lot
    assert set(d["S12_natural"]) == {"S12-C3", "not S12-C3"}
    again = doe.split_lot_design(cands, lots=3, wafers_per_lot=24, seed=5)
    assert again["S12"].tolist() == d["S12"].tolist()
    other = doe.split_lot_design(cands, lots=3, wafers_per_lot=24, seed=6)
    assert other["S12"].tolist() != d["S12"].tolist()
    # power: Monte Carlo of the lot-blocked t test (independent of the nct formula)
    rng = np.random.default_rng(0)
    n_lots, w, effect, sd, sims = 3, 16, 0.03, 0.04, 4000
    x = np.tile(np.repeat([-0.5, 0.5], w // 2), n_lots)
    lot = np.repeat(np.arange(n_lots), w)
    y = rng.normal(0, sd, (sims, n_lots * w)) + effect * x + rng.normal(0, 0.1, (sims, n_lots))[:, lot]
    yc = y - np.stack([y[:, lot == i].mean(axis=1) for i in range(n_lots)], axis=1)[:, lot]
    est = yc @ x / (x @ x)
    dof = n_lots * w - n_lots - 1
    s2 = ((yc - np.outer(est, x)) ** 2).sum(axis=1) / dof
    t = est / np.sqrt(s2 / (x @ x))
    from scipy import stats
    mc = np.mean(np.abs(t) > stats.t.ppf(0.975, dof))
    assert doe.split_lot_power(n_lots * w, n_lots, effect, sd) == pytest.approx(mc, abs=0.03)
    meta = d.attrs["doe"]
    assert meta["lots_needed"] >= 1 and 0 < meta["power"] < 1


@pytest.mark.parametrize("call,match", [
    (lambda: doe.full_factorial(["A", "B", "A"]), "duplicate factor name 'A'"),
    (lambda: doe.fractional_factorial(list("ABCD"), generators=["D=ABX"]), "unknown factor 'X'"),
    (lambda: doe.fractional_factorial(list("ABCD"), generators=["D=A"]), "aliases main effect D"),
    (lambda: doe.fractional_factorial(list("ABCDE"), generators=["D=AB", "E=AB"]),
     "alias main effect D with main effect E"),
    (lambda: doe.fractional_factorial(list("ABCD"), generators=["D=ABC", "D=AB"]), "two generators"),
    (lambda: doe.full_factorial(list("ABC"), blocks=3), "'blocks' parameter of full_factorial"),
    (lambda: doe.fractional_factorial(list("ABCD")), "generators"),
    (lambda: doe.split_lot_design([("S1", "T1"), ("S1", "T2")]), "share step"),
    (lambda: doe.split_lot_design([("S1", "T1")], wafers_per_lot=7), "evenly"),
])
def test_bad_input_names_the_problem(call, match):
    with pytest.raises(FabFitError, match=match):
        call()


@pytest.mark.parametrize("call,option", [
    (lambda: doe.full_factorial(list("AB"), replicates=0), "'replicates' parameter of full_factorial"),
    (lambda: doe.full_factorial(list("AB"), center_points=-1), "'center_points' parameter"),
    (lambda: doe.full_factorial(list("AB"), center_points=1.5), "'center_points' parameter"),
    (lambda: doe.full_factorial(list("AB"), levels=1), "'levels' parameter"),
    (lambda: doe.full_factorial(list("AB"), seed="x"), "'seed' parameter"),
    (lambda: doe.full_factorial("ABC"), "factors"),
    (lambda: doe.full_factorial({"g": ["a", "b", "c"]}, blocks=2), "blocks="),
    (lambda: doe.fractional_factorial(list("ABCD"), resolution=2), "'resolution' parameter"),
    (lambda: doe.fractional_factorial(list("ABCDE"), runs=12), "'runs' parameter"),
    (lambda: doe.fractional_factorial(list("ABCD"), generators=[7]), "generator 7"),
    (lambda: doe.fractional_factorial(list("ABCD"), generators=["D="]), "generator 'D=' is empty"),
    (lambda: doe.full_factorial({"A": 2.5}), "factor 'A' levels"),
    (lambda: doe.full_factorial({"A": (np.nan, 1.0)}), "factor 'A' levels"),
    (lambda: doe.central_composite(list("AB"), alpha="spherical"), "'alpha' parameter of central_composite"),
    (lambda: doe.central_composite(list("AB"), alpha=-1.0), "'alpha' parameter of central_composite"),
    (lambda: doe.box_behnken(list("ABC"), center_points=-1), "'center_points' parameter of box_behnken"),
    (lambda: doe.plackett_burman(list("ABC"), runs=10), "'runs' parameter of plackett_burman"),
    (lambda: doe.ofat(list("AB"), baseline="high"), "'baseline' parameter of ofat"),
    (lambda: doe.split_lot_power(96, 4, 0.03, wafer_sd=0.0), "'wafer_sd' parameter"),
    (lambda: doe.split_lot_design([("S1", "T1")], target_power=1.5), "'target_power' parameter"),
    (lambda: doe.split_lot_design([("S1", "T1")], wafers_per_lot=30), "'wafers_per_lot' parameter"),
    (lambda: doe.design_cost(8, wafer_cost=-1), "'wafer_cost' parameter"),
    (lambda: doe.alias_structure(doe.full_factorial(list("AB")), max_order=0), "'max_order' parameter"),
])
def test_bad_options_raise_one_exception_naming_the_option(call, option):
    """Issue 25 #6: every bad option in fabnb.doe is a FabParameterError naming it."""
    with pytest.raises(FabParameterError, match=option):
        call()


# --- issue 23: a fraction typed in from a book keeps its generators ------------------

def book_table(generators, runs_order=None, centre=0):
    """A two-level fraction on base factors A, B, C as a book prints it: the base in
    standard order and each generated column the signed product of its word (built here
    from the columns themselves, not by fabnb), then ``centre`` centre runs."""
    rows = [{f: (1 if i >> j & 1 else -1) for j, f in enumerate("ABC")} for i in range(8)]
    for gen in generators:
        target, word = gen.split("=")
        sign = -1 if word.startswith("-") else 1
        for row in rows:
            row[target] = sign * int(np.prod([row[c] for c in word.lstrip("-")]))
    frame = pd.DataFrame(rows)
    frame = frame.iloc[runs_order] if runs_order is not None else frame
    zeros = pd.DataFrame(0, index=range(centre), columns=frame.columns)
    return pd.concat([frame, zeros], ignore_index=True)


def test_as_design_infers_the_defining_relation_of_a_typed_fraction():
    """Montgomery (2013), 8th ed., Example 8.1 (Sec. 8.2): the 2^(4-1) fraction with
    I = ABCD and its published alias pairs AB = CD, AC = BD, AD = BC; alias_structure
    raised on it before (no generators in the metadata)."""
    book = book_table(["D=ABC"], runs_order=[3, 0, 6, 5, 1, 7, 2, 4], centre=3)
    d = doe.as_design(book.assign(y=np.arange(11.0)), list("ABCD"))
    assert d.attrs["doe"]["generators"] == ["D=ABC"] and doe.resolution(d) == 4
    text = str(doe.alias_structure(d, max_order=2))
    assert "Defining relation: I = ABCD" in text
    for line in ("AB = CD", "AC = BD", "AD = BC"):
        assert line in text.splitlines()


@pytest.mark.parametrize("gens", [["D=AB", "E=AC"], ["D=-AB", "E=AC"], ["D=ABC"]])
def test_typed_fraction_has_the_same_aliases_as_the_generated_one(gens):
    """A book's table (rows shuffled) has the alias chains of the fraction fabnb builds
    from the same generators; Montgomery's Table 8.14 lists the 2^(5-2) with D = AB,
    E = AC, whose defining relation is I = ABD = ACE = BCDE."""
    names = list("ABCDE"[:3 + len(gens)])
    typed = doe.as_design(book_table(gens, runs_order=np.random.default_rng(0).permutation(8)), names)
    made = doe.fractional_factorial(names, generators=gens)
    assert typed.attrs["doe"]["defining_relation"] == made.attrs["doe"]["defining_relation"]
    assert doe.alias_structure(typed).chains == doe.alias_structure(made).chains
    assert doe.resolution(doe.fold_over(typed)) == doe.resolution(doe.fold_over(made))
    if gens == ["D=AB", "E=AC"]:
        assert typed.attrs["doe"]["defining_relation"] == "I = ABD = ACE = BCDE"


def test_as_design_checks_and_keeps_given_generators():
    book = book_table(["D=ABC"])
    kept = doe.as_design(book, list("ABCD"), generators=["D=ABC"])
    assert kept.attrs["doe"]["generators"] == ["D=ABC"]
    with pytest.raises(FabDataError, match="do not satisfy generator 'D=-ABC': in row 0"):
        doe.as_design(book, list("ABCD"), generators=["D=-ABC"])
    with pytest.raises(FabParameterError, match="generator"):
        doe.as_design(book, list("ABCD"), generators=["D=AX"])


def test_irregular_or_full_typed_tables():
    full = doe.as_design(book_table([]), list("ABC"))
    assert doe.alias_structure(full).defining_relation == "I" and doe.resolution(full) == math.inf
    missing_run = doe.as_design(book_table(["D=ABC"]).iloc[:7], list("ABCD"))
    with pytest.raises(FabFitError, match="regular two-level fractions only"):
        doe.alias_structure(missing_run)  # an incomplete fraction has no alias chains
    with pytest.raises(FabDataError, match="not a regular fraction"):
        doe.as_design(book_table(["D=ABC"]).iloc[:7], list("ABCD"), generators=["D=ABC"])
    blocked = book_table([]).assign(block=lambda f: np.where(f["A"] * f["B"] * f["C"] > 0, "II", "I"))
    assert doe.alias_structure(doe.as_design(blocked, list("ABC"))).block_confounded == ["ABC"]
