from __future__ import annotations

import pytest

from tftrace.compare.align import align
from tftrace.compare.options import parse_kinds
from tftrace.compare.renames import suggest_renames
from tftrace.format.rules import parse_rename_rule
from tftrace.errors import UsageError
from tftrace.format.schema import Event


def events(*specs: tuple) -> tuple[Event, ...]:
    out = []
    for seq, (kind, name, *rest) in enumerate(specs):
        attrs = rest[0] if rest else {}
        shape = attrs.pop("shape", (2,))
        out.append(Event(seq=seq, kind=kind, name=name, shape=shape, dtype="float32", attrs=attrs))
    return tuple(out)


def variables(*names: str) -> tuple[Event, ...]:
    return events(*[("variable", n) for n in names])


def randoms(*types_and_shapes: tuple[str, tuple[int, ...]]) -> tuple[Event, ...]:
    return events(*[("random_op", f"op{i}", {"op_type": t, "shape": s})
                    for i, (t, s) in enumerate(types_and_shapes)])


KINDS = parse_kinds(None)


def test_variables_pair_by_name_ignoring_colon_zero():
    alignment = align(variables("a/w:0", "a/b:0"), variables("a/b", "a/w"), KINDS)
    assert [(p.a.name, p.b.name) for p in alignment.pairs] == [("a/w:0", "a/w"), ("a/b:0", "a/b")]


def test_rename_rules_apply_to_b_in_order():
    rules = [parse_rename_rule("^model/="), parse_rename_rule(("dense_1", "dense"))]
    alignment = align(variables("dense/w"), variables("model/dense_1/w"), KINDS, rules)
    assert [(p.a.name, p.b.name) for p in alignment.pairs] == [("dense/w", "model/dense_1/w")]


def test_missing_and_extra_are_unpaired():
    alignment = align(variables("x", "y"), variables("x", "z"), KINDS)
    assert [(p.a and p.a.name, p.b and p.b.name) for p in alignment.pairs] == \
        [("x", "x"), (None, "z"), ("y", None)]  # z follows x in B


@pytest.mark.parametrize("names_a, names_b, rule", [
    (("dense/w", "dense/b", "out/w"), ("model/dense/w", "model/dense/b", "model/out/w"), "^model/="),
    (("net/dense/w", "net/out/w"), ("dense/w", "out/w"), "^=net/"),
    (("tower_0/conv/w", "tower_0/conv/b"), ("tower/conv/w", "tower/conv/b"), "^tower/=tower_0/"),
], ids=["b-has-extra-scope", "a-has-extra-scope", "scope-renamed"])
def test_suggested_rename(names_a, names_b, rule):
    suggestion = suggest_renames(variables(*names_a), variables(*names_b))
    assert [str(r) for r in suggestion] == [rule]
    fixed = align(variables(*names_a), variables(*names_b), KINDS, suggestion)
    assert all(p.a is not None and p.b is not None for p in fixed.pairs)


def test_no_suggestion_for_unrelated_names():
    assert suggest_renames(variables("a/w", "b/w", "c/k"), variables("x/q", "y/r", "z/s")) == ()


def test_inserted_random_op_is_one_gap_with_the_shift():
    common = [("RandomUniform", (3,)), ("RandomStandardNormal", (2, 2))] * 5
    a = randoms(*common)
    b = randoms(*(common[:4] + [("RandomUniform", (128, 10))] + common[4:]))
    alignment = align(a, b, KINDS)
    assert len(alignment.random_gaps) == 1
    gap = alignment.random_gaps[0]
    assert (gap.side, gap.index, gap.shifted, gap.offset) == ("b", 4, 6, 1)
    assert gap.events[0].shape == (128, 10)
    paired = [(p.random_index_a, p.random_index_b) for p in alignment.pairs if p.a and p.b]
    assert paired == [(i, i if i < 4 else i + 1) for i in range(10)]
    # In A's order, the extra op sits right after A's op #3.
    order = [(p.random_index_a, p.random_index_b) for p in alignment.pairs]
    assert order[3:6] == [(3, 3), (None, 4), (4, 5)]


def test_missing_random_op_in_b():
    common = [("RandomUniform", (3,)), ("RandomStandardNormal", (2, 2)), ("RandomUniform", (5,))]
    alignment = align(randoms(*common), randoms(*(common[:1] + common[2:])), KINDS)
    gap = alignment.random_gaps[0]
    assert (gap.side, gap.index, gap.shifted, gap.offset) == ("a", 1, 1, -1)


def test_changed_op_type_pairs_positionally():
    alignment = align(randoms(("RandomUniform", (3,)), ("RandomUniform", (4,))),
                      randoms(("RandomUniform", (3,)), ("TruncatedNormal", (4,))), KINDS)
    assert alignment.random_gaps == ()
    assert [(p.random_index_a, p.random_index_b) for p in alignment.pairs] == [(0, 0), (1, 1)]


def test_endpoints_pair_by_name_step_and_occurrence_without_renames():
    a = events(("endpoint", "model/x"), ("endpoint", "model/x"))
    a = (a[0], Event(seq=1, kind="endpoint", name="model/x", step=1, shape=(2,), dtype="float32"))
    b = (Event(seq=0, kind="endpoint", name="model/x", step=1, shape=(2,), dtype="float32"),)
    alignment = align(a, b, KINDS, [parse_rename_rule("^model/=")])
    assert [(p.a and p.a.step, p.b and p.b.step) for p in alignment.pairs] == [(0, None), (1, 1)]


def test_parse_kinds_lists_valid_values():
    assert parse_kinds("random,variables") == ("variable", "random_op")
    with pytest.raises(UsageError, match="variables, random, endpoints, snapshots.*'weights'"):
        parse_kinds("variables,weights")


@pytest.mark.parametrize("text", ["noequals", "=x", "([=x"], ids=["no-equals", "empty-regex", "bad-regex"])
def test_bad_rename_rule(text):
    with pytest.raises(UsageError):
        parse_rename_rule(text)


# A TF1 Session records its initializers' draws first (init run) and the dropout later;
# a TF1 graph seeds them in creation order (conv init 0, dropout 1, fc init 2). Keras 3
# creates every variable before computing: conv init, fc init, then dropout.
SESSION = [("init", 0, (3, 3)), ("init", 2, (8, 4)), ("dropout", 1, (2, 8))]
KERAS3 = [("init", 0, (3, 3)), ("init", 1, (8, 4)), ("dropout", 2, (2, 8))]


def drawn(order, marked=True):
    specs = []
    for role, seed_index, shape in order:
        attrs = {"op_type": "RandomUniform", "shape": shape, "seed_index": seed_index}
        if marked:
            attrs["initializer"] = role == "init"
        specs.append(("random_op", f"{role}{seed_index}", attrs))
    return events(*specs)


def paired_names(alignment):
    return sorted((p.a.name, p.b.name) for p in alignment.pairs if p.a and p.b)


def test_initializer_draws_are_ordered_before_the_other_random_ops():
    alignment = align(drawn(SESSION), drawn(KERAS3), KINDS)
    assert alignment.random_gaps == ()
    assert paired_names(alignment) == [("dropout1", "dropout2"), ("init0", "init0"),
                                       ("init2", "init1")]


@pytest.mark.parametrize("marked_a, marked_b", [(False, False), (False, True), (True, False)],
                         ids=["both-unmarked", "a-unmarked", "b-unmarked"])
def test_traces_without_initializer_marks_are_ordered_by_seed_alone(marked_a, marked_b):
    # An eager run seeds in execution order: conv init 0, dropout 1, fc init 2, like the graph.
    eager = [("init", 0, (3, 3)), ("dropout", 1, (2, 8)), ("init", 2, (8, 4))]
    alignment = align(drawn(SESSION, marked_a), drawn(eager, marked_b), KINDS)
    assert alignment.random_gaps == ()
    assert paired_names(alignment) == [("dropout1", "dropout1"), ("init0", "init0"),
                                       ("init2", "init2")]
